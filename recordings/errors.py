"""The errors the recordings package raises.

RecordingsError
 ├── InvalidIdError      an id that could escape the storage layout (path traversal) or is malformed
 ├── ManifestError       a manifest that is missing or corrupt before its last line
 └── MeetingExistsError  a recorder asked to start a meeting whose folder already holds a manifest

Disk errors while recording are not raised to the media path: the recorder turns them into its error
state (see ``recordings.storage.MeetingRecorder.error``).
"""

from __future__ import annotations


class RecordingsError(Exception):
    """Base of every error raised by this package."""


class InvalidIdError(RecordingsError, ValueError):
    """An id holds characters other than ``[A-Za-z0-9_-]`` or has a bad length."""


class ManifestError(RecordingsError):
    """A manifest cannot be read (missing, or a line before the last one is not valid JSON)."""


class MeetingExistsError(RecordingsError):
    """The meeting folder already holds a manifest: reopen it instead of starting it again."""
