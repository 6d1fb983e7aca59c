"""Meeting recordings: crash-safe Ogg Opus tracks, the meeting-clock manifest, mixing, integrity, retention.

Imports nothing of the rest of giaoban. The media layer drives a :class:`MeetingRecorder`; the worker and
the server read a :class:`MeetingManifest` with :func:`read_manifest`.
"""

from recordings.errors import InvalidIdError, ManifestError, MeetingExistsError, RecordingsError
from recordings.integrity import Mismatch, manifest_digests, sha256_file, verify
from recordings.manifest import Gap, Interval, MeetingManifest, TrackRecord, read_manifest
from recordings.mixing import decode_track_pcm, decoded_duration_s, mix_meeting, track_duration_s
from recordings.oggopus import OggOpusInfo, OggOpusWriter, ogg_opus_duration_s, read_ogg_opus_info
from recordings.retention import PurgeReport, purge, purge_leftovers, purge_meeting
from recordings.storage import (
    MeetingRecorder,
    ParticipantInfo,
    RecordingFailure,
    RecordingsLayout,
    TrackHandle,
    validate_id,
)

__all__ = [
    "Gap",
    "Interval",
    "InvalidIdError",
    "ManifestError",
    "MeetingExistsError",
    "MeetingManifest",
    "MeetingRecorder",
    "Mismatch",
    "OggOpusInfo",
    "OggOpusWriter",
    "ParticipantInfo",
    "PurgeReport",
    "RecordingFailure",
    "RecordingsError",
    "RecordingsLayout",
    "TrackHandle",
    "TrackRecord",
    "decode_track_pcm",
    "decoded_duration_s",
    "manifest_digests",
    "mix_meeting",
    "ogg_opus_duration_s",
    "purge",
    "purge_leftovers",
    "purge_meeting",
    "read_manifest",
    "read_ogg_opus_info",
    "sha256_file",
    "track_duration_s",
    "validate_id",
    "verify",
]
