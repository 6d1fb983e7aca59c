"""The FFmpeg command lines of the composed video: the picture in one pass, then the subtitles and chapters.

One pass: a black canvas of the meeting's length; every video track that appears is decoded once, placed on
the meeting clock, frames outside its shots (a second of lead-in kept) dropped before scaling, scaled into
the full picture and / or the corner box, and overlaid while its shots last; the meeting's mix as AAC. The
second step copies that picture and sound and adds the WebVTT subtitles as a mov_text track and the chapters
from an ffmetadata file; it is the only step rerun when the transcript is corrected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from recordings.shots import Shot, VideoSource

LEAD_IN_S = 1.0  # frames kept before a shot starts: the picture at the cut is the latest frame before it
CORNER_FRACTION = 4  # the corner box is a quarter of the picture's width and height
CORNER_MARGIN_PX = 16


@dataclass(frozen=True)
class EncodeOptions:
    width: int = 1280
    height: int = 720
    fps: int = 25
    preset: str = "veryfast"
    crf: int = 27
    scale_flags: str = ""  # swscale's algorithm for the scaled tracks ("": FFmpeg's default, bicubic)
    audio_bitrate: str = "96k"
    threads: int = 2
    keyframe_interval_s: int = 4  # seeking lands on a key frame at most this far before the asked second
    drop_hidden: bool = True  # frames outside a track's shots dropped before scaling (False: the benchmark's
    # baseline, every frame of every shown track scaled)


@dataclass(frozen=True)
class Chapter:
    start_s: float
    end_s: float
    title: str


def _spans(shots: Sequence[Shot], track_id: str, role: str) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for shot in shots:
        if (shot.main if role == "main" else shot.corner) != track_id:
            continue
        if out and abs(out[-1][1] - shot.start_s) < 1e-6:
            out[-1] = (out[-1][0], shot.end_s)
        else:
            out.append((shot.start_s, shot.end_s))
    return out


def _between(spans: Sequence[tuple[float, float]], lead_s: float = 0.0) -> str:
    return "+".join(f"between(t\\,{max(0.0, a - lead_s):.3f}\\,{b:.3f})" for a, b in spans)


def input_url(source: VideoSource, meeting_dir: Path) -> str:
    """The track's file, read only up to its last whole frame (a torn or corrupt tail is never parsed)."""
    path = (meeting_dir / source.track.path).resolve()
    if source.valid_bytes < path.stat().st_size:
        return f"subfile,,start,0,end,{source.valid_bytes},,:{path}"
    return str(path)


def picture_command(
    ffmpeg: str,
    meeting_dir: Path,
    mix: Path | None,
    sources: Sequence[VideoSource],
    shots: Sequence[Shot],
    length_s: float,
    out: Path,
    graph_file: Path,
    options: EncodeOptions,
) -> list[str]:
    """The one-pass composition: H.264 picture and AAC sound of ``length_s`` into ``out`` (no subtitles)."""
    o = options
    cw, ch = o.width // CORNER_FRACTION // 2 * 2, o.height // CORNER_FRACTION // 2 * 2
    cx, cy = o.width - cw - CORNER_MARGIN_PX, o.height - ch - CORNER_MARGIN_PX
    args = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-nostats", "-progress", "pipe:1", "-y"]
    graph = [f"color=c=black:s={o.width}x{o.height}:r={o.fps}:d={length_s:.3f}[c0]"]
    used = [s for s in sources if any(s.track.track_id in (sh.main, sh.corner) for sh in shots)]
    overlays: dict[str, list[tuple[str, str]]] = {"main": [], "corner": []}  # (scaled label, enable)
    for index, source in enumerate(used):
        args += ["-reinit_filter", "0", "-i", input_url(source, meeting_dir)]
        tid = source.track.track_id
        main, corner = _spans(shots, tid, "main"), _spans(shots, tid, "corner")
        # a shot past the file's last frame (held to the track's end) keeps that frame
        last = source.last_frame_s
        keep = _between(sorted((min(a, last), b) for a, b in main + corner), LEAD_IN_S)
        head = f"[{index}:v]setpts=PTS-STARTPTS+{source.track.start_s:.3f}/TB"
        if o.drop_hidden:
            head += f",select='{keep}'"
        roles = [(r, s) for r, s in (("main", main), ("corner", corner)) if s]
        labels = [f"{'m' if role == 'main' else 'k'}{index}" for role, _ in roles]
        if len(roles) == 2:
            graph.append(f"{head},split=2[{labels[0]}][{labels[1]}]")
        else:
            graph.append(f"{head}[{labels[0]}]")
        for (role, spans), label in zip(roles, labels, strict=True):
            w, h = (o.width, o.height) if role == "main" else (cw, ch)
            flags = f":flags={o.scale_flags}" if o.scale_flags else ""
            graph.append(
                f"[{label}]scale={w}:{h}{flags}:force_original_aspect_ratio=decrease,"
                f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1[{label}s]"
            )
            overlays[role].append((f"{label}s", _between(spans)))
    canvas = 0
    for role in ("main", "corner"):  # every full picture first, the corner boxes on top of them
        x, y = (0, 0) if role == "main" else (cx, cy)
        for label, enable in overlays[role]:
            graph.append(
                f"[c{canvas}][{label}]overlay=x={x}:y={y}:eof_action=repeat:enable='{enable}'[c{canvas + 1}]"
            )
            canvas += 1
    graph.append(f"[c{canvas}]format=yuv420p[vout]")
    graph_file.write_text(";\n".join(graph), encoding="utf-8")
    audio_index = len(used)
    if mix is not None:
        args += ["-i", str(mix)]
    else:
        args += ["-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono"]
    args += ["-filter_complex_threads", str(o.threads), "-filter_complex_script", str(graph_file)]
    args += ["-map", "[vout]", "-map", f"{audio_index}:a"]
    args += ["-c:v", "libx264", "-preset", o.preset, "-crf", str(o.crf), "-threads", str(o.threads)]
    args += ["-g", str(o.fps * o.keyframe_interval_s), "-r", str(o.fps)]
    args += ["-c:a", "aac", "-b:a", o.audio_bitrate, "-t", f"{length_s:.3f}", "-f", "mp4", str(out)]
    return args


def ffmetadata(title: str, chapters: Sequence[Chapter]) -> str:
    """An ffmetadata file: the title and one ``[CHAPTER]`` per chapter (milliseconds)."""

    def esc(text: str) -> str:
        for ch in ("\\", "=", ";", "#", "\n"):
            text = text.replace(ch, "\\" + ch)
        return text

    lines = [";FFMETADATA1", f"title={esc(title)}"]
    for chapter in chapters:
        lines += [
            "[CHAPTER]",
            "TIMEBASE=1/1000",
            f"START={round(chapter.start_s * 1000)}",
            f"END={round(chapter.end_s * 1000)}",
            f"title={esc(chapter.title)}",
        ]
    return "\n".join(lines) + "\n"


def finish_command(
    ffmpeg: str, picture: Path, subtitles: Path | None, metadata: Path, out: Path
) -> list[str]:
    """Copy picture and sound, add the subtitles (mov_text, Vietnamese) and the chapters, fast start."""
    args = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(picture)]
    args += ["-f", "ffmetadata", "-i", str(metadata)]
    if subtitles is not None:
        args += ["-i", str(subtitles)]
    args += ["-map", "0:v", "-map", "0:a"]
    if subtitles is not None:
        args += ["-map", "2:s", "-c:s", "mov_text", "-metadata:s:s:0", "language=vie"]
        args += ["-metadata:s:s:0", "handler_name=Phụ đề tiếng Việt"]
    args += ["-map_metadata", "1", "-map_chapters", "1", "-c:v", "copy", "-c:a", "copy"]
    args += ["-movflags", "+faststart", "-f", "mp4", str(out)]
    return args


def parse_progress(line: str, length_s: float, report: Callable[[float], None]) -> None:
    """One line of ``-progress`` output; reports the share of the meeting encoded so far."""
    key, _, value = line.strip().partition("=")
    if key in ("out_time_us", "out_time_ms") and value.isdigit() and length_s > 0:
        report(min(1.0, int(value) / 1e6 / length_s))
