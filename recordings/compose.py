"""The composed video of a meeting (``video.mp4`` beside the tracks), made after the meeting by a worker.

Run as a child process of the worker (``python -m recordings.compose``, niced, FFmpeg's threads bounded):
it reads a JSON request on stdin and writes JSON lines on stdout, ``{"progress": 0..1}`` as it goes and one
``{"result": {...}}`` at the end. ``mode`` ``"full"`` computes the speaker timeline from the audio tracks,
plans the shots, encodes the picture, then adds subtitles and chapters; ``"finish"`` only redoes the last
step on the existing file (a corrected transcript). The file is replaced atomically (rename), so a reader
never sees a half-written video, and the composition is noted in the manifest (``video_composed``).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from recordings.errors import RecordingsError
from recordings.ffcompose import (
    Chapter,
    EncodeOptions,
    ffmetadata,
    finish_command,
    parse_progress,
    picture_command,
)
from recordings.integrity import sha256_file
from recordings.ivf import read_ivf_info
from recordings.manifest import MANIFEST_FILENAME, ManifestLog, VideoComposed, read_events, read_manifest
from recordings.shots import PictureGap, VideoSource, plan_shots, source_of
from recordings.speakers import participant_levels, speaker_timeline
from recordings.storage import MIX_FILENAME

logger = logging.getLogger(__name__)

VIDEO_FILENAME = "video.mp4"
SUBTITLES_FILENAME = "subtitles.vtt"
WORK_DIRNAME = ".compose"
LEVELS_SHARE = 0.1  # of the progress: the speaker timeline; the picture takes the rest but the last step
FINISH_SHARE = 0.03

Report = Callable[[float], None]


class CompositionError(Exception):
    """FFmpeg refused or failed; the message carries its last error lines."""


@dataclass(frozen=True)
class CompositionRequest:
    meeting_dir: str
    mode: str  # "full" or "finish"
    title: str
    hall_unit_code: str
    chapters: list[dict[str, Any]] = field(default_factory=list)  # start_s, end_s, title
    subtitles: bool = False  # subtitles.vtt beside the video holds cues to embed
    options: dict[str, Any] = field(default_factory=dict)  # EncodeOptions fields
    ffmpeg: str = "ffmpeg"


@dataclass(frozen=True)
class CompositionResult:
    file: str  # relative to the meeting folder
    sha256: str
    bytes: int
    length_s: float
    shots: int
    picture_gaps: list[list[Any]]  # [start_s, end_s, track_id, reason]
    subtitles_sha256: str


def video_sources(meeting_dir: Path, tracks: Any) -> list[VideoSource]:
    """The video tracks with the spans their files can show (a missing or unreadable file shows nothing)."""
    out = []
    for track in tracks:
        try:
            info = read_ivf_info(meeting_dir / track.path)
        except (OSError, ValueError) as exc:
            logger.warning("%s: unreadable video: %s", track.track_id, exc)
            continue
        if info.frames:
            out.append(source_of(track, info.duration_s, info.valid_bytes, info.file_bytes))
    return out


def _run(args: list[str], length_s: float, report: Report | None) -> None:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    for line in proc.stdout:
        if report is not None:
            parse_progress(line, length_s, report)
    errors = proc.stderr.read()
    if proc.wait() != 0:
        raise CompositionError(f"ffmpeg exited {proc.returncode}: {errors.strip()[-1500:]}")


def compose(request: CompositionRequest, report: Report) -> CompositionResult:
    folder = Path(request.meeting_dir)
    options = EncodeOptions(**request.options)
    manifest = read_manifest(folder)
    length = manifest.length_s
    work = folder / WORK_DIRNAME
    work.mkdir(exist_ok=True)
    target = folder / VIDEO_FILENAME
    picture = work / "picture.mp4"
    gaps: list[PictureGap] = []
    shots_count = 0
    if request.mode == "full":
        levels = participant_levels(folder, manifest)
        turns = speaker_timeline(levels, length)
        report(LEVELS_SHARE)
        sources = video_sources(folder, manifest.video_tracks)
        shots, gaps = plan_shots(manifest, sources, turns, request.hall_unit_code)
        shots_count = len(shots)
        mix = folder / MIX_FILENAME
        args = picture_command(
            request.ffmpeg,
            folder,
            mix if mix.is_file() else None,
            sources,
            shots,
            length,
            picture,
            work / "graph.txt",
            options,
        )
        span = 1.0 - LEVELS_SHARE - FINISH_SHARE
        _run(args, length, lambda x: report(LEVELS_SHARE + span * x))
    elif target.is_file():
        picture = target  # read while the new file is staged: readers keep the current one until the rename
        gaps = [PictureGap(float(g[0]), float(g[1]), str(g[2]), "", str(g[3])) for g in _last_gaps(folder)]
    else:
        raise CompositionError("no composed video to add subtitles to")
    metadata = work / "chapters.txt"
    chapters = [Chapter(float(c["start_s"]), float(c["end_s"]), str(c["title"])) for c in request.chapters]
    metadata.write_text(ffmetadata(request.title, chapters), encoding="utf-8")
    subtitles = folder / SUBTITLES_FILENAME if request.subtitles else None
    staged = work / "video.mp4"
    _run(finish_command(request.ffmpeg, picture, subtitles, metadata, staged), length, None)
    with open(staged, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(staged, target)
    for leftover in work.iterdir():
        leftover.unlink()
    work.rmdir()
    digest = sha256_file(target)
    size = target.stat().st_size
    noted = [[round(g.start_s, 3), round(g.end_s, 3), g.track_id, g.reason] for g in gaps]
    log = ManifestLog(folder / MANIFEST_FILENAME)
    try:
        log.append(VideoComposed(VIDEO_FILENAME, digest, size, noted))
    finally:
        log.close()
    report(1.0)
    vtt = folder / SUBTITLES_FILENAME
    return CompositionResult(
        VIDEO_FILENAME, digest, size, length, shots_count, noted, sha256_file(vtt) if vtt.is_file() else ""
    )


def _last_gaps(folder: Path) -> list[list[Any]]:
    """The picture gaps of the last composition, from the manifest."""
    gaps: list[list[Any]] = []
    for event in read_events(folder / MANIFEST_FILENAME):
        if isinstance(event, VideoComposed):
            gaps = event.picture_gaps
    return gaps


def main() -> int:
    """The child process: a request on stdin, progress and the result as JSON lines on stdout."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    request = CompositionRequest(**json.loads(sys.stdin.read()))
    last = [0.0]

    def report(value: float) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.5 or value >= 1.0:
            last[0] = now
            print(json.dumps({"progress": round(value, 4)}), flush=True)

    try:
        result = compose(request, report)
    except (CompositionError, RecordingsError, OSError, ValueError) as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1
    print(json.dumps({"result": asdict(result)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
