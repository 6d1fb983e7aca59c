"""Deleting a meeting's recordings. The server decides which meetings go and writes the audit log.

``purge`` first renames the meeting folder to a hidden ``.purging-<id>-<n>`` name (atomic: the meeting
disappears from listings at once, and a purge cut short by a crash is finished by the next call to
:func:`purge_leftovers`), then deletes the files without following symbolic links.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from recordings.errors import RecordingsError
from recordings.manifest import MANIFEST_FILENAME
from recordings.storage import RECORDINGS_DIRNAME, RecordingsLayout, validate_id

logger = logging.getLogger(__name__)

PURGING_PREFIX = ".purging-"


@dataclass(frozen=True)
class PurgeReport:
    """What a purge removed."""

    meeting_id: str
    files_deleted: int
    bytes_freed: int


def _remove_tree(folder: Path) -> tuple[int, int]:
    """Delete a folder bottom-up; links are unlinked, never followed. Returns (files, bytes)."""
    files = 0
    freed = 0
    for root, dirs, names in os.walk(folder, topdown=False, followlinks=False):
        for name in names:
            path = Path(root) / name
            info = path.lstat()
            if stat.S_ISREG(info.st_mode):
                freed += info.st_size
            path.unlink()
            files += 1
        for name in dirs:
            path = Path(root) / name
            if path.is_symlink():
                path.unlink()
                files += 1
            else:
                path.rmdir()
    folder.rmdir()
    return files, freed


def purge(meeting_dir: Path | str) -> PurgeReport:
    """Delete one meeting folder (``<data>/recordings/<meeting_id>``) with everything in it.

    Refuses (RecordingsError) anything that is not a real folder holding a manifest directly under a
    ``recordings`` folder, and ids that are not safe: a wrong argument cannot delete anything else.
    """
    folder = Path(meeting_dir)
    meeting_id = validate_id(folder.name, kind="meeting id")
    if folder.is_symlink() or not folder.is_dir():
        raise RecordingsError(f"{folder} is not a meeting folder")
    if folder.parent.name != RECORDINGS_DIRNAME or not (folder / MANIFEST_FILENAME).is_file():
        raise RecordingsError(f"{folder} is not a meeting folder (no manifest under recordings/)")
    index = 0
    while True:
        staging = folder.with_name(f"{PURGING_PREFIX}{meeting_id}-{index}")
        if not staging.exists():
            break
        index += 1
    os.rename(folder, staging)
    files, freed = _remove_tree(staging)
    logger.info("meeting %s: purged %d files, %d bytes", meeting_id, files, freed)
    return PurgeReport(meeting_id=meeting_id, files_deleted=files, bytes_freed=freed)


def purge_meeting(layout: RecordingsLayout, meeting_id: str) -> PurgeReport:
    """Purge a meeting by id within a layout."""
    return purge(layout.meeting_dir(meeting_id))


def purge_leftovers(layout: RecordingsLayout) -> int:
    """Finish purges that a crash cut short. Returns how many folders were removed."""
    if not layout.root.is_dir():
        return 0
    done = 0
    for entry in layout.root.iterdir():
        if entry.name.startswith(PURGING_PREFIX) and entry.is_dir() and not entry.is_symlink():
            _remove_tree(entry)
            done += 1
    return done
