"""Uploads and request bodies bounded in bytes and in work: zip bombs (docx, xlsx, odt), zips with overlapping
or nested entries, oversized or many-part multipart bodies, huge JSON bodies.

The unit tests craft the zips byte by byte and check what :func:`inspect_evidence` reads and allocates; the
API tests go through the app; the ``e2e`` test measures the peak RSS growth of a real ``giaoban serve`` under
each of the worst requests crafted here (the figure the README quotes)."""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import socket
import struct
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.api.limits import MAX_BODY_BYTES, REPORT_FORM_PARTS
from server.clock import Clock  # 'today' in Vietnam, as the server counts deadlines
from server.errors import PayloadTooLarge, UnsupportedMediaType
from server.services.task_evidence import (
    MAX_EVIDENCE_FILES,
    ZIP_MAX_ENTRIES,
    ContainerRefused,
    EvidenceUpload,
    check_uploads,
    inspect_evidence,
)
from tests.server.live_harness import LiveServer
from tests.server.test_tasks_support import (
    DEC,
    World,
    day,
    docx_bytes,
    jpeg_bytes,
    new_task,
    odt_bytes,
    open_world,
    pdf_bytes,
    png_bytes,
    report,
    set_today,
    xlsx_bytes,
)

ODT_MIME = b"application/vnd.oasis.opendocument.text"
GIB = 1 << 30
MIB = 1 << 20

# ---- zips crafted byte by byte ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One zip entry as written: ``data`` is what is stored (deflated when ``method`` is 8)."""

    name: str
    data: bytes
    size: int  # the uncompressed size declared
    crc: int = 0
    method: int = 8


def stored(name: str, content: bytes) -> Entry:
    return Entry(name, content, len(content), zlib.crc32(content), method=0)


def deflated(name: str, content: bytes) -> Entry:
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return Entry(name, c.compress(content) + c.flush(), len(content), zlib.crc32(content))


@functools.cache
def zeros_deflated(size: int) -> tuple[bytes, int]:
    """``size`` zero bytes (a whole number of MiB) deflated, and their CRC-32. Each MiB ends in a full flush,
    so its deflated form is the same every time: a 1 GiB run (about 1 MB) is one MiB's form repeated."""
    assert size % MIB == 0
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    piece = bytes(MIB)
    one = c.compress(piece) + c.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(size // MIB):
        crc = zlib.crc32(piece, crc)
    return one * (size // MIB) + c.flush(), crc


def bomb(name: str, size: int = GIB) -> Entry:
    data, crc = zeros_deflated(size)
    return Entry(name, data, size, crc)


def local_header(e: Entry) -> bytes:
    name = e.name.encode()
    return struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0x800, e.method, 0, 0x21, e.crc, len(e.data),
                       e.size, len(name), 0) + name  # fmt: skip


def central_header(e: Entry, offset: int) -> bytes:
    name = e.name.encode()
    return struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0x800, e.method, 0, 0x21, e.crc,
                       len(e.data), e.size, len(name), 0, 0, 0, 0, 0, offset) + name  # fmt: skip


def build_zip(entries: Sequence[Entry], aliases: Sequence[tuple[Entry, int]] = ()) -> bytes:
    """A zip of ``entries``; each alias is one more central directory record pointing at the local header of
    ``entries[i]`` (overlapping entries, the non-recursive zip bomb's trick)."""
    body, offsets = bytearray(), []
    for e in entries:
        offsets.append(len(body))
        body += local_header(e) + e.data
    records = [central_header(e, off) for e, off in zip(entries, offsets, strict=True)]
    records += [central_header(alias, offsets[i]) for alias, i in aliases]
    cd = b"".join(records)
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(records), len(records), len(cd), len(body), 0)
    return bytes(body) + cd + eocd


def odt_bomb() -> bytes:
    """The probe's file: an ODF whose ``mimetype`` entry unpacks to 1 GiB (1 MB on the wire)."""
    return build_zip([bomb("mimetype"), deflated("content.xml", b"<office:document-content/>")])


def docx_bomb() -> bytes:
    return build_zip([deflated("[Content_Types].xml", b"<Types/>"), bomb("word/document.xml")])


def xlsx_bomb() -> bytes:
    """Under every per-entry bound: 100 MiB parts, but 20 of them (2 GiB declared)... and each one 1000:1."""
    return build_zip([deflated("xl/workbook.xml", b"<workbook/>")] + [
        bomb(f"xl/worksheets/sheet{i}.xml", 100 * MIB) for i in range(20)
    ])  # fmt: skip


class CountingReader(io.BytesIO):
    """A BytesIO that counts the bytes read from it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        out = super().read(size)
        self.bytes_read += len(out)
        return out


def inspected(data: bytes) -> tuple[str | None | ContainerRefused, int, int, float]:
    """What inspect_evidence makes of ``data``, with the bytes it read, its peak allocation and its time."""
    fh = CountingReader(data)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        result: str | None | ContainerRefused = inspect_evidence(fh)
    except ContainerRefused as exc:
        result = exc
    elapsed = time.perf_counter() - start
    _now, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, fh.bytes_read, peak, elapsed


def nested_zip() -> bytes:
    """An entry whose stored data holds the local header and data of a second one (listed on its own too)."""
    inner = stored("word/document.xml", b"<w/>")
    outer = stored("word/media/image1.png", local_header(inner) + inner.data)
    data = build_zip([outer])
    cd_at = len(local_header(outer)) + len(outer.data)
    records = central_header(outer, 0) + central_header(inner, len(local_header(outer)))
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 2, 2, len(records), cd_at, 0)
    return data[:cd_at] + records + eocd


def zip64_marked(data: bytes) -> bytes:
    """The end record's entry count set to 0xFFFF, which says "look in the zip64 record"."""
    return data[:-14] + struct.pack("<HH", 0xFFFF, 0xFFFF) + data[-10:]


# ---- the sniffing, unit tests -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (pdf_bytes, "pdf"),
        (png_bytes, "png"),
        (jpeg_bytes, "jpeg"),
        (docx_bytes, "docx"),
        (xlsx_bytes, "xlsx"),
        (odt_bytes, "odt"),
        (lambda: build_zip([stored("mimetype", ODT_MIME), deflated("content.xml", b"<x/>")]), "odt"),
        (lambda: build_zip([deflated("mimetype", ODT_MIME + b"\n")]), "odt"),
        (lambda: build_zip([stored("mimetype", b"application/zip")]), None),
        (lambda: build_zip([deflated("readme.txt", b"hello")]), None),
        (lambda: b"MZ\x90\x00" + bytes(100), None),
    ],
)
def test_real_files_are_told_by_their_content(make: Callable[[], bytes], kind: str | None) -> None:
    result, _read, _peak, _t = inspected(make())
    assert result == kind


def test_the_odt_bomb_of_the_probe_is_refused_reading_little() -> None:
    data = odt_bomb()
    assert len(data) < 2 * MIB
    result, read, peak, elapsed = inspected(data)
    assert isinstance(result, ContainerRefused) and result.too_large, result
    assert "mimetype" in result.reason
    assert read < 100_000 and peak < 1 * MIB and elapsed < 0.5, (read, peak, elapsed)


def test_a_bomb_that_lies_about_its_size_is_decompressed_no_further_than_128_bytes() -> None:
    """The mimetype entry declares 39 bytes but unpacks to 1 GiB: only 1 KiB of it is ever inflated."""
    lying = Entry("mimetype", bomb("mimetype").data, len(ODT_MIME))
    result, read, peak, elapsed = inspected(build_zip([lying, deflated("content.xml", b"<x/>")]))
    assert result is None
    assert read < 70_000 and peak < 256 * 1024 and elapsed < 0.5, (read, peak, elapsed)  # the 64 KiB tail


@pytest.mark.parametrize(
    ("make", "too_large", "words"),
    [
        (docx_bomb, True, "word/document.xml"),
        (xlsx_bomb, True, "nén"),
        (
            lambda: build_zip(
                [deflated("xl/workbook.xml", b"<w/>")]
                + [
                    Entry(f"xl/media/{i}.bin", bytes(600 * 1024), 200 * 600 * 1024, method=0)
                    for i in range(10)
                ]
            ),
            True,
            "giải nén ra hơn",
        ),  # fmt: skip
        (lambda: build_zip([deflated("word/document.xml", bytes(4 * MIB))]), True, "nén"),
        (
            lambda: build_zip([stored(f"word/media/{i}.png", b"x") for i in range(ZIP_MAX_ENTRIES + 1)]),
            True,
            f"tối đa {ZIP_MAX_ENTRIES}",
        ),
        # two central directory records naming the same bytes: the overlapping-entries bomb
        (
            lambda: build_zip(
                [bomb("xl/workbook.xml", 4 * MIB)], aliases=[(bomb("xl/sheet.xml", 4 * MIB), 0)]
            ),
            True,  # each record is already 1000:1
            "nén",
        ),
        (
            lambda: build_zip(
                [stored("word/document.xml", b"<w/>" * 10)],
                aliases=[(stored("word/styles.xml", b"<w/>" * 10), 0)],
            ),
            False,
            "chồng lên nhau",
        ),
        (nested_zip, False, "chồng lên nhau"),
        (
            lambda: build_zip([stored("word/document.xml", b"<w/>"), stored("word/document.xml", b"<v/>")]),
            False,
            "cùng tên",
        ),
        (lambda: zip64_marked(build_zip([stored("word/document.xml", b"<w/>")])), False, "zip64"),
        (lambda: b"PK\x03\x04 not really a zip", False, "mục lục"),
        (lambda: build_zip([stored("word/document.xml", b"<w/>")])[:-30], False, "mục lục"),
    ],
)
def test_zips_past_a_bound_or_malformed_are_refused(
    make: Callable[[], bytes], too_large: bool, words: str
) -> None:
    result, read, peak, elapsed = inspected(make())
    assert isinstance(result, ContainerRefused), result
    assert result.too_large is too_large and words in result.reason, result.reason
    assert read < 2 * MIB and peak < 4 * MIB and elapsed < 1.0, (read, peak, elapsed)


def test_check_uploads_turns_refusals_into_413_and_415_in_vietnamese() -> None:
    with pytest.raises(PayloadTooLarge) as too_large:
        check_uploads([EvidenceUpload.from_bytes("bien-ban.odt", odt_bomb())], 20 * MIB)
    assert too_large.value.message.startswith("Tệp bien-ban.odt bị từ chối")
    assert "bom giải nén" in too_large.value.message
    assert too_large.value.details["file"] == "bien-ban.odt"
    with pytest.raises(UnsupportedMediaType) as malformed:
        check_uploads([EvidenceUpload.from_bytes("bao-cao.docx", nested_zip())], 20 * MIB)
    assert "chồng lên nhau" in malformed.value.message
    ok = check_uploads([EvidenceUpload.from_bytes("bao-cao.docx", docx_bytes())], 20 * MIB)
    assert [c.kind for c in ok] == ["docx"]


# ---- through the app --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with open_world(tmp_path_factory, "uploads-hardening", ("clerk", "chumo")) as w:
        yield w


def _task(world: World) -> int:
    set_today(world.client, day(DEC, 1))
    return int(new_task(world.client, world.h("clerk"), deadline=day(DEC, 20))["id"])


def test_zip_bombs_are_refused_by_the_api(world: World) -> None:
    tid = _task(world)
    for name, data, status in (
        ("bien-ban.odt", odt_bomb(), 413),
        ("bao-cao.docx", docx_bomb(), 413),
        ("so-lieu.xlsx", xlsx_bomb(), 413),
        ("bao-cao.docx", nested_zip(), 415),
    ):
        r = report(world.client, world.h("chumo"), tid, "done", "Xong", files=[(name, data, "x")])
        assert r.status_code == status, r.text
        error = r.json()["error"]
        assert error["code"] == ("payload_too_large" if status == 413 else "unsupported_media_type")
        assert error["message"].startswith(f"Tệp {name} bị từ chối"), error
    ok = report(world.client, world.h("chumo"), tid, "progress", "Ảnh", files=[("a.odt", odt_bytes(), "x")])
    assert ok.status_code == 201, ok.text


def test_json_bodies_past_the_bound_are_refused(world: World) -> None:
    client, clerk = world.client, world.h("clerk")
    set_today(client, day(DEC, 1))
    body = {
        "title": "Rà soát",
        "lead_unit": "CHUMO",
        "deadline": "2026-12-20",
        "description": "x" * MAX_BODY_BYTES,
    }
    r = client.post("/api/tasks", json=body, headers=clerk)
    assert r.status_code == 413, r.text
    assert r.json()["error"] == {
        "code": "payload_too_large",
        "message": f"Dữ liệu gửi lên vượt quá giới hạn {MAX_BODY_BYTES} byte.",
        "details": {"max_bytes": MAX_BODY_BYTES},
    }
    # the same without a Content-Length (chunked): refused at the chunk that crosses the bound
    raw = json.dumps(body).encode()
    chunks = (raw[i : i + 65536] for i in range(0, len(raw), 65536))
    r = client.post("/api/tasks", content=chunks, headers={**clerk, "content-type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "payload_too_large"
    # multipart sent to a JSON route gets the JSON bound, not the upload one
    r = client.post("/api/tasks", files=[("f", ("a.pdf", b"%PDF-" + bytes(2 * MIB), "x"))], headers=clerk)
    assert r.status_code == 413, r.text


def test_many_parts_are_refused_as_they_stream_and_eleven_files_by_the_route(world: World) -> None:
    tid = _task(world)
    png = png_bytes()
    many = [("files", (f"{i}.png", png, "image/png")) for i in range(REPORT_FORM_PARTS + 1)]
    r = world.client.post(
        f"/api/tasks/{tid}/reports", data={"kind": "progress"}, files=many, headers=world.h("chumo")
    )
    assert r.status_code == 413, r.text
    assert r.json()["error"]["message"] == f"Biểu mẫu có quá nhiều phần (tối đa {REPORT_FORM_PARTS})."
    eleven = [(f"{i}.png", png, "image/png") for i in range(MAX_EVIDENCE_FILES + 1)]
    r = report(world.client, world.h("chumo"), tid, "progress", "Ảnh", files=eleven)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"] == f"Tối đa {MAX_EVIDENCE_FILES} tệp minh chứng mỗi báo cáo."


# ---- a real server: peak memory under the worst requests --------------------------------------------------


def _vm_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def multipart(parts: Sequence[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body of (field name, file name or None, content) parts."""
    boundary = "giaobanboundary7f3a"
    out = bytearray()
    for field, filename, content in parts:
        disposition = f'form-data; name="{field}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def declared_but_unsent(live: LiveServer, path: str, token: str, content_type: str, declared: int) -> str:
    """Headers declaring ``declared`` bytes, then a little of the body: the status line answered (10 s)."""
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as s:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {declared}\r\n\r\n"
        )
        s.sendall(head.encode() + b"--x\r\n")
        try:
            return s.recv(4096).decode(errors="replace").split("\r\n", 1)[0]
        except TimeoutError:
            return "no answer within 10 s"


@dataclass
class Attack:
    name: str
    send: Callable[[], Any]  # returns the status (int) or the status line (str)
    expect: Sequence[int | str]


def attacks(live: LiveServer, tid: int, token: str, limit: int) -> list[Attack]:
    url = f"{live.url}/api/tasks/{tid}/reports"
    auth = {"Authorization": f"Bearer {token}"}

    def post(body: bytes | Iterator[bytes], content_type: str, target: str = url) -> int:
        r = httpx.post(target, content=body, headers={**auth, "content-type": content_type}, timeout=120)
        if r.status_code >= 400:
            assert "error" in r.json(), r.text  # the house shape
        return r.status_code

    def upload(*files: tuple[str, bytes]) -> int:
        body, ctype = multipart([("kind", None, b"progress"), *[("files", n, d) for n, d in files]])
        return post(body, ctype)

    def one_file_streamed(total: int) -> Iterator[bytes]:  # chunked: no Content-Length
        yield b'--x\r\nContent-Disposition: form-data; name="files"; filename="a.pdf"\r\n\r\n%PDF-'
        piece = bytes(MIB)
        for _ in range(total // MIB):
            yield piece

    at_limit = b"%PDF-1.4\n" + bytes(limit - 9)
    return [
        Attack("odt bomb (mimetype 1 GiB)", lambda: upload(("bien-ban.odt", odt_bomb())), (413,)),
        Attack("docx bomb (document.xml 1 GiB)", lambda: upload(("bao-cao.docx", docx_bomb())), (413,)),
        Attack("xlsx bomb (20 x 100 MiB)", lambda: upload(("so-lieu.xlsx", xlsx_bomb())), (413,)),
        Attack(
            f"{MAX_EVIDENCE_FILES} files at the limit",
            lambda: upload(*[(f"{i}.pdf", at_limit) for i in range(MAX_EVIDENCE_FILES)]),
            (201,),
        ),
        Attack(
            "200 parts of 1 MiB (spooled in memory each)",
            lambda: upload(*[(f"{i}.pdf", b"%PDF-" + bytes(MIB - 200)) for i in range(200)]),
            (413,),
        ),
        Attack(
            "multipart declaring 10 GB",
            lambda: declared_but_unsent(
                live, f"/api/tasks/{tid}/reports", token, "multipart/form-data; boundary=x", 10 * GIB
            ),
            ("HTTP/1.1 413 Request Entity Too Large",),
        ),
        Attack(
            "multipart streamed chunked past the bound (300 MB)",
            lambda: post(one_file_streamed(300 * MIB), "multipart/form-data; boundary=x"),
            (413,),
        ),
        Attack(
            "JSON of 40 MB ([{},{},...])",
            lambda: post(
                b'{"co_units": [' + b"{}," * (40 * MIB // 3) + b"{}]}",
                "application/json",
                f"{live.url}/api/tasks",
            ),
            (413,),
        ),
        Attack(
            "JSON just under the bound ([{},{},...])",
            lambda: post(
                b'{"co_units": [' + b"{}," * ((MAX_BODY_BYTES - 40) // 3) + b"{}]}",
                "application/json",
                f"{live.url}/api/tasks",
            ),
            (422,),
        ),
    ]


def measure(live: LiveServer, attack: Attack) -> tuple[Any, int]:
    """The attack's answer and how far above its RSS before it the server's peak RSS went (KiB)."""
    assert live.proc is not None
    pid = live.proc.pid
    _reset_peak(pid)
    before = _vm_kib(pid, "VmRSS")
    answer = attack.send()
    time.sleep(0.3)
    growth = _vm_kib(pid, "VmHWM") - before
    assert httpx.get(f"{live.url}/api/health", timeout=30).status_code == 200
    return answer, growth


@pytest.mark.e2e
def test_no_request_makes_the_server_allocate_more_than_twice_the_upload_limit(
    tmp_path: Path, database_url: str | None
) -> None:
    live = LiveServer(tmp_path / "data", database_url, extra_env={"GIAOBAN_WORKER_IN_PROCESS": "false"})
    live.start()
    try:
        limit = 20 * MIB  # the default GIAOBAN_MAX_UPLOAD_BYTES
        clerk = {"Authorization": f"Bearer {live.token('thuky')}"}
        deadline = (Clock().today() + dt.timedelta(days=30)).isoformat()
        r = httpx.post(
            f"{live.url}/api/tasks",
            json={"title": "Rà soát", "lead_unit": "CHUMO", "deadline": deadline},
            headers=clerk,
            timeout=30,
        )
        assert r.status_code == 201, r.text
        tid, token = int(r.json()["id"]), live.token("chumo")
        warm = httpx.post(
            f"{live.url}/api/tasks/{tid}/reports",
            data={"kind": "progress"},
            files=[("files", ("a.docx", docx_bytes()))],
            headers={"Authorization": f"Bearer {token}"},
        )
        assert warm.status_code == 201, warm.text
        results = []
        for attack in attacks(live, tid, token, limit):
            answer, growth_kib = measure(live, attack)
            results.append((attack.name, answer, growth_kib))
            print(f"{attack.name:50s} -> {answer!s:40s} peak RSS +{growth_kib / 1024:7.1f} MiB", flush=True)
        worst = max(g for _n, _a, g in results)
        print(f"largest peak RSS growth of one request: {worst / 1024:.1f} MiB (limit {limit // MIB} MiB)")
        for (name, answer, growth_kib), attack in zip(results, attacks(live, tid, token, limit), strict=True):
            assert answer in attack.expect, (name, answer)
            assert growth_kib * 1024 <= 2 * limit, (name, growth_kib)
    finally:
        live.stop()
