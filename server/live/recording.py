"""Recording of a live meeting: the recorder's start and finish, and the media taps that feed it.

A recorded meeting keeps one Ogg Opus track per participant (``recordings``); the media room calls
:meth:`RoomMediaListener.on_audio_packet` for every audio packet it forwards. A meeting that records video
(``record_video``: all, or hall_and_floor) also keeps every camera and screen share it forwards, VP8 frames as
received in IVF (:meth:`RoomMediaListener.on_video_packet`), each track starting at a key frame the tap asks
the publisher for. At the end the audio tracks are mixed
and hashed in a thread and the recording's row is marked finished off the event loop, retried while the
database is locked, so its final state is never lost to a lock held by another writer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from recordings.integrity import sha256_file
from recordings.manifest import read_manifest
from recordings.mixing import mix_meeting
from recordings.storage import MeetingRecorder, ParticipantInfo, RecordingFailure
from server.live.connections import LiveRoom
from server.live.offloop import write_retrying
from server.media import (
    ActiveSpeakerChanged,
    ConnectionStateChanged,
    MediaEvent,
    MediaListener,
    RenegotiationNeeded,
    StreamEnded,
)
from server.media.events import Source
from server.rooms import messages as m
from server.rooms.room import Participant
from server.services import recordings as recording_rows
from server.services.recordings import FinishedTrack

if TYPE_CHECKING:
    from server.live.meetings import LiveMeetings

log = logging.getLogger(__name__)

KEYFRAME_RETRY_S = 1.0  # a video track waiting for a key frame asks again this often


async def start_recorder(core: LiveMeetings, meeting_id: int, resumed: bool) -> MeetingRecorder | None:
    def on_error(failure: Any) -> None:
        core.spawn(recording_failed(core, meeting_id, str(failure.message)), must_finish=True)

    key = str(meeting_id)
    folder = core.layout.meeting_dir(key)
    try:
        if resumed and core.layout.manifest_path(key).exists():
            recorder = MeetingRecorder.reopen(core.layout, key, on_error=on_error)
            recorder.resume(recorder.clock_s())
        else:
            recorder = MeetingRecorder.start(core.layout, key, on_error=on_error)
    except OSError as exc:
        log.error("meeting %s: recording could not start: %s", meeting_id, exc)
        message = f"Không ghi âm được: {exc}"

        def failed(session: Session) -> None:
            recording_rows.begin(session, meeting_id, folder)
            recording_rows.fail(session, meeting_id, message)

        await core._db(failed)
        return None
    def begin(session: Session) -> str:
        recording_rows.begin(session, meeting_id, folder)
        return recording_rows.video_mode(session, meeting_id)

    mode = await core._db(begin)
    live = core.rooms.get(meeting_id)
    if live is not None:
        live.video_mode = mode

    def on_video_error(failure: RecordingFailure) -> None:
        core.spawn(recording_failed(core, meeting_id, failure.message, video_only=True), must_finish=True)

    recorder.on_video_error = on_video_error
    return recorder


async def recording_failed(
    core: LiveMeetings, meeting_id: int, message: str, *, video_only: bool = False
) -> None:
    await write_retrying(
        core.db, lambda session: recording_rows.fail(session, meeting_id, message), f"meeting {meeting_id}"
    )
    live = core.rooms.get(meeting_id)
    if live is not None:  # a warning to everyone; when only video stopped, recording (audio) is still on
        await live.broadcast(m.RecordingState(on=video_only, error=message))


def on_audio_packet(
    live: LiveRoom | None, pid: str, payload: bytes, rtp_timestamp: int, sequence_number: int, red: bool
) -> None:
    """The media tap: record what the server forwards, reordered and repaired (never raises)."""
    if live is None or live.recorder is None:
        return
    p = live.room.participants.get(pid)
    if p is None or not p.audio_forwarded:
        return
    handle = live.tracks.get(pid)
    if handle is None:
        handle = live.recorder.open_track(
            ParticipantInfo(pid, p.username, p.display_name, p.unit_code, p.unit_name),
            live.recorder.clock_s(),
        )
        live.tracks[pid] = handle
    handle.write_rtp(payload, rtp_timestamp, sequence_number, red=red)


def records_video(live: LiveRoom, p: Participant, source: str) -> bool:
    """Whether this camera or screen is recorded now: every one ("all"), or screen shares, the chairing
    unit's hall and the floor holder ("hall_and_floor"). Never a wall thumbnail."""
    mode = live.video_mode
    if source == "thumbnail":
        return False  # a low-resolution copy of the camera, for the chair's wall only
    if mode == "all":
        return True
    return mode == "hall_and_floor" and (source == "screen" or p.is_chair_unit or live.room.floor == p.id)


def on_video_packet(
    live: LiveRoom | None, pid: str, source: Source, payload: bytes, rtp_timestamp: int,
    sequence_number: int, marker: bool, ssrc: int,
) -> None:
    """The video tap: camera and screen packets as received, depacketized into frames (never raises)."""
    if live is None or live.recorder is None or live.video_mode == "none":
        return
    key = (pid, source)
    handle = live.video_tracks.get(key)
    if handle is None or live.video_mode != "all":
        p = live.room.participants.get(pid)
        if p is None or not records_video(live, p, source):
            if handle is not None:  # the floor moved on: this camera's track ends here
                del live.video_tracks[key]
                handle.close(live.recorder.clock_s())
            return
        if handle is None:
            info = ParticipantInfo(pid, p.username, p.display_name, p.unit_code, p.unit_name)
            handle = live.video_tracks[key] = live.recorder.open_video_track(info, source)
    handle.write_rtp(payload, rtp_timestamp, sequence_number, marker, ssrc)
    if handle.wants_keyframe:
        now = time.monotonic()
        if now - handle.last_keyframe_request_s >= KEYFRAME_RETRY_S:
            handle.last_keyframe_request_s = now
            live.media.request_keyframe(pid, source)


def close_video(live: LiveRoom, pid: str, source: str | None = None) -> None:
    """End the video tracks of a participant (one source, or all)."""
    for key in [k for k in live.video_tracks if k[0] == pid and (source is None or k[1] == source)]:
        handle = live.video_tracks.pop(key)
        if live.recorder is not None:
            handle.close(live.recorder.clock_s())


def sync_audio(live: LiveRoom, p: Participant) -> None:
    """Apply a participant's forwarding state to the media and the recording (a participant on the socket
    without media yet, e.g. before its ``join``, gets it applied when it joins)."""
    if p.id in live.media.participant_ids():
        live.media.set_audio_forwarding(p.id, p.audio_forwarded)
    handle = live.tracks.get(p.id)
    if handle is not None and live.recorder is not None:
        now = live.recorder.clock_s()
        if p.audio_forwarded:
            handle.unmute(now)
        else:
            handle.mute(now)


def close_track(live: LiveRoom, pid: str) -> None:
    close_video(live, pid)
    handle = live.tracks.pop(pid, None)
    if handle is not None and live.recorder is not None:
        handle.close(live.recorder.clock_s())


def stop_recorder(
    core: LiveMeetings, live: LiveRoom, after: asyncio.Task[None] | None = None
) -> None:
    """Close every track and the recorder, then finish the files in the background (awaited at close);
    ``after``: what the recording's hooks wait for (the live captions' tail, stored before the offline pass
    is queued)."""
    if live.recorder is None:
        return
    now = live.recorder.clock_s()
    for pid in list(live.tracks):
        close_track(live, pid)
    for pid, _source in list(live.video_tracks):
        close_video(live, pid)
    live.recorder.end(now)
    core.spawn(finish_recording(core, live.meeting_id, after), must_finish=True)


async def finish_recording(
    core: LiveMeetings, meeting_id: int, after: asyncio.Task[None] | None = None
) -> None:
    """Mix the playback file, store every file's SHA-256, then tell the hooks (transcription)."""
    folder = core.layout.meeting_dir(str(meeting_id))
    try:
        tracks, mix_name, mix_sha, mix_bytes, error = await asyncio.to_thread(finish_files, folder)
    except Exception as exc:  # noqa: BLE001 - a failed mix must not lose the tracks
        log.exception("meeting %s: finishing the recording failed", meeting_id)
        tracks, mix_name, mix_sha, mix_bytes, error = [], "", "", 0, f"Không trộn được bản ghi: {exc}"
    await write_retrying(
        core.db,
        lambda session: recording_rows.finish(
            session, meeting_id, tracks, mix_name, mix_sha, mix_bytes, error
        ),
        f"meeting {meeting_id}: recording finished",
    )
    log.info("meeting %s: recording finished (%d tracks, mix %d bytes)", meeting_id, len(tracks), mix_bytes)
    if after is not None:
        await asyncio.gather(after, return_exceptions=True)
    await core.run_hooks(core.on_recording_finished, meeting_id)


def finish_files(folder: Path) -> tuple[list[FinishedTrack], str, str, int, str]:
    """Mix a finished meeting's tracks into one playback file; hash every file (runs in a thread)."""
    manifest = read_manifest(folder)
    tracks = [
        FinishedTrack(
            track_key=t.track_id,
            file=t.path,
            username=t.username,
            unit_code=t.unit_code,
            start_s=t.start_s,
            end_s=t.end_s,
            sha256=t.sha256 or (sha256_file(folder / t.path) if (folder / t.path).is_file() else ""),
            size_bytes=t.size_bytes or 0,
            previous_track_key=t.previous_track_id or "",
            kind=t.kind,
        )
        for t in manifest.tracks
    ]
    error = "; ".join([f.message for f in manifest.failures] + [f.message for f in manifest.video_failures])
    mix = mix_meeting(folder)
    return tracks, mix.name, sha256_file(mix), mix.stat().st_size, error


def recover_after_restart(core: LiveMeetings, meeting_ids: list[int]) -> None:
    """Close the tracks a dead process left open (cut to their last page, hashed) and mark them."""
    for meeting_id in meeting_ids:
        key = str(meeting_id)
        if not core.layout.manifest_path(key).exists():
            continue
        try:
            MeetingRecorder.reopen(core.layout, key).mark_interrupted()
        except Exception:  # noqa: BLE001 - recovery of one meeting must not block the others
            log.exception("meeting %s: recording recovery failed", meeting_id)


class RoomMediaListener(MediaListener):
    """Receives the media layer's events for one room and turns them into room actions."""

    def __init__(self, core: LiveMeetings, meeting_id: int) -> None:
        self.core = core
        self.meeting_id = meeting_id

    def on_audio_packet(
        self,
        participant_id: str,
        payload: bytes,
        rtp_timestamp: int,
        sequence_number: int,
        red: bool,
        arrival_monotonic_s: float,
    ) -> None:
        live = self.core.rooms.get(self.meeting_id)
        on_audio_packet(live, participant_id, payload, rtp_timestamp, sequence_number, red)
        if live is not None and live.captions is not None:
            live.captions.on_packet(participant_id, payload, rtp_timestamp, red)

    def on_video_packet(
        self,
        participant_id: str,
        source: Source,
        payload: bytes,
        rtp_timestamp: int,
        sequence_number: int,
        marker: bool,
        ssrc: int,
    ) -> None:
        on_video_packet(
            self.core.rooms.get(self.meeting_id), participant_id, source, payload, rtp_timestamp,
            sequence_number, marker, ssrc,
        )

    def on_event(self, event: MediaEvent) -> None:
        match event:
            case StreamEnded():
                live = self.core.rooms.get(self.meeting_id)
                if live is not None:
                    close_video(live, event.participant_id, event.source)
            case RenegotiationNeeded():
                self.core.spawn(self.core.renegotiate(self.meeting_id, event.participant_id))
            case ActiveSpeakerChanged():
                self.core.spawn(self.core.active_speaker(self.meeting_id, event.participant_id))
            case ConnectionStateChanged():
                log.info("meeting %s: %s media %s", self.meeting_id, event.participant_id, event.state)
            case _:
                pass
