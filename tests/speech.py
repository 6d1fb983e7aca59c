"""Vietnamese speech for the tests: what the repository can carry, and the real corpus when it is present.

- ``shippable()``: sentences of a commune giao ban (unit names, figures, deadlines) synthesised at test time
  with espeak-ng's Vietnamese voice (``espeak-ng -v vi``, installed by ./scripts/test), converted with sox to
  16 kHz mono 16-bit WAV. Nothing is fetched and nothing is shipped but the text below. Whisper base reads
  this voice badly (WER ≈ 0.9): it is speech for behaviour (audio arrives, waveforms, lengths, units, times),
  not for accuracy.
- ``vivos()``: the VIVOS clips in ``<repo>/../shared/eval/vivos-spk01-dev`` (CC BY-NC-SA 4.0: measured with,
  never shipped), present on CI and the developers' machines, absent from a fresh clone.

Tests that measure accuracy take the ``speech_corpus`` fixture: tests/conftest.py parametrises it over the
corpora present and says in the terminal summary, in one line, how many measurements did not run for want of
VIVOS.

Files are made once and kept under ``$GIAOBAN_TEST_SPEECH_DIR`` (a directory tests/conftest.py makes for the
session and removes after it; child processes inherit it) or, outside pytest, a per-user temporary directory.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VIVOS_DIR = REPO.parent / "shared" / "eval" / "vivos-spk01-dev"
CACHE_ENV = "GIAOBAN_TEST_SPEECH_DIR"
WAV_RATE_HZ = 16000
ESPEAK_VOICE = "vi"
ESPEAK_SPEED_WPM = 150
ESPEAK_AMPLITUDE = 50  # of 200: espeak-ng's default (100) clips on this voice
PEAK_DBFS = -8  # normalised to the level of read speech (VIVOS peaks at 0.28–0.41 of full scale)

SHIPPABLE = "espeak"
VIVOS = "vivos"

# A commune giao ban, one sentence per utterance (3–5 s each at 150 words per minute). Keys are stable: tests
# name the ones they use.
GIAO_BAN: tuple[tuple[str, str], ...] = (
    ("GB01", "Xã Chư Mố báo cáo tình hình chống hạn trong tuần qua."),
    ("GB02", "Toàn xã đã nạo vét được ba kênh mương nội đồng."),
    ("GB03", "Xã Pờ Tó đã tiêm phòng cho một nghìn hai trăm con bò."),
    ("GB04", "Tỷ lệ thu ngân sách đạt tám mươi lăm phần trăm kế hoạch."),
    ("GB05", "Xã Ia Tul đề nghị huyện hỗ trợ thêm giống lúa cho vụ đông xuân."),
    ("GB06", "Còn hai hộ nghèo chưa được sửa chữa nhà ở."),
    ("GB07", "Đồng chí chủ tịch giao phòng nông nghiệp kiểm tra trước ngày mười lăm."),
    ("GB08", "Các xã báo cáo kết quả bằng văn bản về văn phòng ủy ban."),
    ("GB09", "Xã Chư Răng đã hoàn thành việc cấp nước sạch cho ba thôn."),
    ("GB10", "Trường học của xã cần sửa mái trước mùa mưa."),
    ("GB11", "Cuộc họp giao ban kết thúc lúc mười một giờ trưa."),
    ("GB12", "Đề nghị trạm y tế theo dõi sát dịch sốt xuất huyết."),
)


@dataclass(frozen=True)
class Utterance:
    """One spoken sentence: its key, what was said, and a 16 kHz mono 16-bit WAV of it."""

    key: str
    text: str
    path: Path


def cache_dir() -> Path:
    default = Path(tempfile.gettempdir()) / f"giaoban-test-speech-{os.getuid()}"
    folder = Path(os.environ.get(CACHE_ENV) or default)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _made_once(name: str, make: Callable[[str], list[str]]) -> Path:
    """The file ``name`` in the cache, made by the command ``make(path)`` the first time. Written under a
    temporary name and renamed, so processes sharing the cache never see half a file."""
    out = cache_dir() / name
    if not out.exists():
        fd, tmp = tempfile.mkstemp(suffix=out.suffix, dir=out.parent)
        os.close(fd)
        try:
            subprocess.run(make(tmp), check=True, capture_output=True)
            os.replace(tmp, out)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return out


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x00".join(map(str, parts)).encode()).hexdigest()[:16]


def synthesise(text: str) -> Path:
    """``text`` spoken by espeak-ng's Vietnamese voice, as 16 kHz mono 16-bit WAV (made once)."""
    key = _digest(text, ESPEAK_VOICE, ESPEAK_SPEED_WPM, ESPEAK_AMPLITUDE, PEAK_DBFS)
    voice = ["-v", ESPEAK_VOICE, "-s", str(ESPEAK_SPEED_WPM), "-a", str(ESPEAK_AMPLITUDE)]
    raw = _made_once(f"espeak-{key}-22k.wav", lambda out: ["espeak-ng", *voice, "-w", out, text])
    return _made_once(f"espeak-{key}.wav", lambda out: [
        "sox", str(raw), "-r", str(WAV_RATE_HZ), "-c", "1", "-b", "16", out, "gain", "-n", str(PEAK_DBFS)])


def resampled(path: Path, rate_hz: int) -> Path:
    """``path`` as mono 16-bit WAV at ``rate_hz`` (sox; made once per file and rate)."""
    return joined([path], rate_hz)


def joined(paths: Sequence[Path], rate_hz: int) -> Path:
    """The files one after another, as one mono 16-bit WAV at ``rate_hz`` (sox; made once)."""
    key = _digest(*(f"{p.resolve()}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in paths), rate_hz)
    return _made_once(f"joined-{key}-{rate_hz}.wav", lambda out: [
        "sox", *map(str, paths), "-r", str(rate_hz), "-c", "1", "-b", "16", out])


@cache
def shippable() -> tuple[Utterance, ...]:
    """The giao ban sentences, synthesised (espeak-ng): speech any clone of the repository can make."""
    return tuple(Utterance(key, text, synthesise(text)) for key, text in GIAO_BAN)


def shippable_utterance(key: str) -> Utterance:
    return next(u for u in shippable() if u.key == key)


def spoken(keys: Sequence[str], rate_hz: int = WAV_RATE_HZ) -> Path:
    """The GIAO_BAN sentences ``keys`` one after another, as one mono 16-bit WAV at ``rate_hz``."""
    return joined([shippable_utterance(key).path for key in keys], rate_hz)


def vivos_present() -> bool:
    return (VIVOS_DIR / "transcripts.tsv").is_file()


@cache
def vivos() -> tuple[Utterance, ...]:
    """The VIVOS clips with their references (keys R031…R060); only call when vivos_present()."""
    rows = (VIVOS_DIR / "transcripts.tsv").read_text(encoding="utf-8").splitlines()
    found = []
    for row in rows:
        if row.strip():
            name, text = row.split("\t", 1)
            key = name.removesuffix(".wav").removeprefix("VIVOSSPK01_")
            found.append(Utterance(key, text.strip(), VIVOS_DIR / name))
    return tuple(found)


@dataclass(frozen=True)
class Corpus:
    """A source of speech for measurements: ``name`` is the test id (``espeak`` or ``vivos``)."""

    name: str
    description: str

    def utterances(self) -> tuple[Utterance, ...]:
        return shippable() if self.name == SHIPPABLE else vivos()

    def utterance(self, key: str) -> Utterance:
        return next(u for u in self.utterances() if u.key == key)


SHIPPABLE_CORPUS = Corpus(SHIPPABLE, "espeak-ng Vietnamese, synthesised at test time")
VIVOS_CORPUS = Corpus(VIVOS, f"VIVOS speaker 1, {VIVOS_DIR}")


def corpora_present() -> list[Corpus]:
    """The corpora a measurement runs on here: the shippable one always, VIVOS when it is present."""
    return [SHIPPABLE_CORPUS, *([VIVOS_CORPUS] if vivos_present() else [])]
