"""SHA-256 fingerprints of finished recording files and their verification."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from recordings.manifest import MeetingManifest

logger = logging.getLogger(__name__)

CHUNK_SIZE_BYTES = 1 << 20


def sha256_file(path: Path | str) -> str:
    """Hex SHA-256 of a file's content, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Mismatch:
    """A file whose content differs from what was recorded, or that is gone."""

    path: str  # relative to the meeting folder
    expected: str
    actual: str | None  # None when the file is missing or unreadable

    @property
    def missing(self) -> bool:
        return self.actual is None


def verify(meeting_dir: Path | str, expected: Mapping[str, str]) -> list[Mismatch]:
    """Compare files (paths relative to ``meeting_dir``) with expected hex SHA-256 digests.

    Returns one :class:`Mismatch` per missing, unreadable or changed file; an empty list means intact.
    A path that leaves the meeting folder counts as missing (it is never read).
    """
    folder = Path(meeting_dir).resolve()
    mismatches: list[Mismatch] = []
    for relative, digest in sorted(expected.items()):
        target = (folder / relative).resolve()
        if not target.is_relative_to(folder):
            logger.warning("%s: refusing to hash %r outside the meeting folder", folder.name, relative)
            mismatches.append(Mismatch(relative, digest, None))
            continue
        try:
            actual: str | None = sha256_file(target)
        except OSError:
            actual = None
        if actual != digest.lower():
            mismatches.append(Mismatch(relative, digest, actual))
    return mismatches


def manifest_digests(manifest: MeetingManifest) -> dict[str, str]:
    """``{relative path: sha256}`` of every track the manifest holds a digest for (closed tracks)."""
    return {track.path: track.sha256 for track in manifest.tracks if track.sha256 is not None}
