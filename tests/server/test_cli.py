"""The CLI as a user runs it: subprocesses on a fresh data dir (and the run's database backend)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from server.config import Settings
from tests.env import child_env


def _env(settings: Settings) -> dict[str, str]:
    env = child_env()
    env["GIAOBAN_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        env["GIAOBAN_DATABASE_URL"] = settings.database_url
    return env


def giaoban(
    settings: Settings, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=_env(settings),
        timeout=120,
        check=check,
    )


def test_init_seed_and_user_add(settings: Settings, tmp_path: Path) -> None:
    assert "Đã khởi tạo" in giaoban(settings, "init").stdout
    assert giaoban(settings, "seed", "ia-pa").stdout.strip() == "Đã nạp 10 đơn vị."
    province = {
        "code": "GIALAI",
        "name": "UBND tỉnh Gia Lai",
        "kind": "province",
        "children": [
            {
                "code": "XA1",
                "name": "UBND xã Một",
                "kind": "commune",
                "children": [{"code": "THON1", "name": "Thôn 1", "kind": "village"}],
            }
        ],
    }
    tree = tmp_path / "tree.json"
    tree.write_text(json.dumps(province, ensure_ascii=False), encoding="utf-8")
    assert "Đã nạp 3 đơn vị." in giaoban(settings, "seed", "units", str(tree)).stdout
    out = giaoban(
        settings,
        "user",
        "add",
        "thuky",
        "--role",
        "clerk",
        "--unit",
        "IAPA",
        "--password-stdin",
        stdin="mot-mat-khau-dai\n",
    ).stdout
    assert "thuky" in out
    dup = giaoban(
        settings,
        "user",
        "add",
        "thuky",
        "--role",
        "clerk",
        "--unit",
        "IAPA",
        "--password-stdin",
        stdin="mot-mat-khau-dai\n",
        check=False,
    )
    assert dup.returncode == 2 and "đã tồn tại" in dup.stderr
    bad_unit = giaoban(
        settings,
        "user",
        "add",
        "x1",
        "--role",
        "member",
        "--unit",
        "NOPE",
        "--password-stdin",
        stdin="mot-mat-khau-dai\n",
        check=False,
    )
    assert bad_unit.returncode == 2 and "NOPE" in bad_unit.stderr


def test_seed_rejects_a_malformed_tree(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"code": "lower case", "name": "", "kind": "x"}', encoding="utf-8")
    r = giaoban(settings, "seed", "units", str(bad), check=False)
    assert r.returncode == 2 and "không hợp lệ" in r.stderr


@pytest.mark.e2e
def test_serve_demo_then_login_over_http(settings: Settings) -> None:
    from tests.server.live_harness import LiveServer

    server = LiveServer(settings.data_dir, settings.database_url).start()
    try:
        assert {"admin", "chutri", "thuky", "chumo", "poto"} <= set(server.creds)
        creds = {"username": "chumo", "password": server.creds["chumo"]}
        r = httpx.post(f"{server.url}/api/auth/login", json=creds)
        assert r.status_code == 200
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        meetings = httpx.get(f"{server.url}/api/meetings", headers=headers).json()
        assert len(meetings) == 1 and "CHUMO" in meetings[0]["units"] and len(meetings[0]["units"]) == 9
        tree = httpx.get(f"{server.url}/api/units", headers=headers).json()["units"]
        assert tree[0]["code"] == "IAPA" and len(tree[0]["children"]) == 9
    finally:
        server.stop()


@pytest.mark.e2e
def test_serve_demo_ends_its_output_with_the_passwords_and_the_url(settings: Settings) -> None:
    """What a person sees in the terminal (stdout and stderr together): the migration and startup logs come
    first, the one-time passwords and the URL last, with nothing after them once the server is listening."""
    import selectors
    import time

    from tests.server.live_harness import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--demo", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=_env(settings),
    )
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    out = b""
    try:
        deadline = time.monotonic() + 60
        while b"/api/health" not in out and time.monotonic() < deadline:
            if sel.select(timeout=0.5):
                out += os.read(proc.stdout.fileno(), 65536)
            if b"\xc4\x91ang ch\xe1\xba\xa1y t\xe1\xba\xa1i" in out and b"/api/health" not in out:
                # listening: a request must not print anything after the banner (the access log is below it)
                assert httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).status_code == 200
                time.sleep(1.0)
                while sel.select(timeout=0.2):
                    out += os.read(proc.stdout.fileno(), 65536)
                break
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    lines = out.decode("utf-8").splitlines()
    url_at = next(i for i, line in enumerate(lines) if "giaoban đang chạy tại" in line)
    banner_at = next(i for i, line in enumerate(lines) if "Tài khoản dùng thử" in line)
    assert f"http://127.0.0.1:{port}/" in lines[url_at]
    assert "Application startup complete" in "\n".join(lines[:banner_at])
    assert "alembic" in "\n".join(lines[:banner_at])
    between = lines[banner_at + 1 : url_at]
    assert len(between) == 13 and all(line.startswith("  ") for line in between)
    # after the URL only the access-log line of our one request
    assert all("/api/health" in line for line in lines[url_at + 1 :]), lines[url_at + 1 :]
