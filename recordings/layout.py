"""Where recordings live on disk: the layout under the data dir and the ids that may become paths.

Layout under the data dir::

    <data>/recordings/<meeting_id>/manifest.jsonl
    <data>/recordings/<meeting_id>/tracks/<track_id>.ogg
    <data>/recordings/<meeting_id>/tracks/<track_id>.ivf     (camera and screen video, VP8 as received)
    <data>/recordings/<meeting_id>/mix.ogg

Ids are restricted to ``[A-Za-z0-9_-]`` (1-64 characters) so no id can leave this layout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from recordings.errors import InvalidIdError
from recordings.manifest import MANIFEST_FILENAME

RECORDINGS_DIRNAME = "recordings"
TRACKS_DIRNAME = "tracks"
MIX_FILENAME = "mix.ogg"
TRACK_SUFFIX = ".ogg"
VIDEO_TRACK_SUFFIX = ".ivf"
MAX_ID_LENGTH = 64
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]+")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_-]+")


def validate_id(value: str, *, kind: str = "id") -> str:
    """Return ``value`` if it is a safe id (``[A-Za-z0-9_-]``, 1-64 characters), else raise InvalidIdError."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH or not _SAFE_ID.fullmatch(value):
        raise InvalidIdError(f"invalid {kind}: {value!r} (allowed: A-Z a-z 0-9 _ -, 1-{MAX_ID_LENGTH} chars)")
    return value


def slug(value: str, *, max_length: int = 32) -> str:
    """A safe fragment made from any text (for generated ids)."""
    cleaned = _UNSAFE_CHARS.sub("-", value).strip("-")[:max_length]
    return cleaned or "x"


@dataclass(frozen=True)
class RecordingsLayout:
    """Paths of the recordings under one data dir. Every id is validated before it becomes a path."""

    data_dir: Path

    @property
    def root(self) -> Path:
        return Path(self.data_dir) / RECORDINGS_DIRNAME

    def meeting_dir(self, meeting_id: str) -> Path:
        return self.root / validate_id(meeting_id, kind="meeting id")

    def manifest_path(self, meeting_id: str) -> Path:
        return self.meeting_dir(meeting_id) / MANIFEST_FILENAME

    def tracks_dir(self, meeting_id: str) -> Path:
        return self.meeting_dir(meeting_id) / TRACKS_DIRNAME

    def track_path(self, meeting_id: str, track_id: str) -> Path:
        return self.meeting_dir(meeting_id) / track_relative_path(track_id)

    def mix_path(self, meeting_id: str) -> Path:
        return self.meeting_dir(meeting_id) / MIX_FILENAME

    def meeting_ids(self) -> list[str]:
        """Ids of the meetings that have a manifest, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(
            entry.name
            for entry in self.root.iterdir()
            if _SAFE_ID.fullmatch(entry.name) and (entry / MANIFEST_FILENAME).is_file()
        )


def track_relative_path(track_id: str, suffix: str = TRACK_SUFFIX) -> str:
    """The path of a track file relative to its meeting folder."""
    return f"{TRACKS_DIRNAME}/{validate_id(track_id, kind='track id')}{suffix}"
