"""The live core's video tap (server/live/recording.py) with a real recorder and real VP8 packets: which
cameras a meeting keeps under each record_video choice, the floor moving on, key-frame requests, a stream's
end."""

from __future__ import annotations

from pathlib import Path

from recordings.ivf import read_ivf_info
from recordings.manifest import read_manifest
from recordings.storage import MeetingRecorder, RecordingsLayout
from server.live.connections import LiveRoom
from server.live.recording import RoomMediaListener, close_video, on_video_packet
from server.media import StreamEnded
from server.rooms.room import Participant, Room
from tests.recordings.test_rec_video import Packet, encode

HALL, CHUMO, POTO = "u1", "u2", "u3"


class KeyframeRequests:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def request_keyframe(self, participant_id: str, source: str) -> None:
        self.asked.append((participant_id, source))


def live_room(tmp_path: Path, mode: str) -> tuple[LiveRoom, KeyframeRequests]:
    media = KeyframeRequests()
    recorder = MeetingRecorder.start(RecordingsLayout(tmp_path), "5")
    live = LiveRoom(5, Room(5, "Giao ban"), media, 1, recorder=recorder, video_mode=mode)  # type: ignore[arg-type]
    for pid, unit, hall in ((HALL, "IAPA", True), (CHUMO, "CHUMO", False), (POTO, "POTO", False)):
        live.room.participants[pid] = Participant(
            id=pid, user_id=int(pid[1:]), username=unit.lower(), display_name=unit, unit_code=unit,
            unit_name=f"UBND {unit}", role="member", is_chair_unit=hall, can_moderate=hall, can_publish=True,
        )
    return live, media


def send(live: LiveRoom, pid: str, source: str, packets: list[Packet], ssrc: int = 1) -> None:
    for p in packets:
        on_video_packet(live, pid, source, p.payload, p.ts, p.seq, p.marker, ssrc)  # type: ignore[arg-type]


def recorded(tmp_path: Path) -> dict[tuple[str, str], list[int]]:
    """(participant, kind) -> frames of each of its video tracks, in order."""
    out: dict[tuple[str, str], list[int]] = {}
    folder = tmp_path / "recordings" / "5"
    for t in read_manifest(folder).video_tracks:
        out.setdefault((t.participant_id, t.kind), []).append(read_ivf_info(folder / t.path).frames)
    return out


def test_all_keeps_every_camera_and_asks_each_for_a_keyframe(tmp_path: Path) -> None:
    live, media = live_room(tmp_path, "all")
    packets = encode(45)
    late = [p for p in packets if p.frame >= 3]  # joined mid-stream: waits for the next key frame (30)
    send(live, HALL, "camera", packets)
    send(live, CHUMO, "camera", late)
    send(live, POTO, "screen", packets)
    assert (CHUMO, "camera") in media.asked and (HALL, "camera") in media.asked
    stop_recorder_quietly(live)
    assert recorded(tmp_path) == {(HALL, "camera"): [45], (CHUMO, "camera"): [15], (POTO, "screen"): [45]}


def test_hall_and_floor_keeps_the_hall_the_floor_holder_and_screens(tmp_path: Path) -> None:
    live, _ = live_room(tmp_path, "hall_and_floor")
    packets = encode(90)
    first = [p for p in packets if p.frame < 30]
    rest = [p for p in packets if p.frame >= 30]
    live.room.floor = CHUMO
    for pid, source in ((HALL, "camera"), (CHUMO, "camera"), (POTO, "camera"), (POTO, "screen")):
        send(live, pid, source, first)
    live.room.floor = POTO  # the floor moves on: Chư Mố's camera track ends, Pờ Tó's starts (at a key frame)
    for pid in (HALL, CHUMO, POTO):
        send(live, pid, "camera", rest)
    live.room.floor = CHUMO  # and comes back: a second track of Chư Mố's camera
    send(live, CHUMO, "camera", [p for p in packets if p.frame >= 60])  # (its encoder keeps going)
    stop_recorder_quietly(live)
    got = recorded(tmp_path)
    assert got[(HALL, "camera")] == [90]
    assert got[(POTO, "screen")] == [30]
    assert got[(POTO, "camera")] == [60]  # from the key frame at 30, when it got the floor
    assert got[(CHUMO, "camera")] == [30, 30]
    tracks = read_manifest(tmp_path / "recordings" / "5").video_tracks
    chumo = [t for t in tracks if t.participant_id == CHUMO]
    assert chumo[1].previous_track_id == chumo[0].track_id and chumo[1].segment == 1


def test_a_stream_that_ends_closes_its_track(tmp_path: Path) -> None:
    live, _ = live_room(tmp_path, "all")
    packets = encode(30)
    send(live, POTO, "screen", packets)
    RoomMediaListener(FakeCore(live), 5).on_event(StreamEnded("5", POTO, "screen"))  # type: ignore[arg-type]
    assert live.video_tracks == {}
    (track,) = read_manifest(tmp_path / "recordings" / "5").video_tracks
    assert track.closed and track.video is not None and track.video.frames == 30
    send(live, POTO, "screen", encode(30, seq0=100, ts0=5000))  # shared again: a new track
    close_video(live, POTO)
    assert recorded(tmp_path)[(POTO, "screen")] == [30, 30]


def test_nothing_is_kept_without_video_recording(tmp_path: Path) -> None:
    live, media = live_room(tmp_path, "none")
    send(live, HALL, "camera", encode(10))
    assert live.video_tracks == {} and media.asked == []
    stop_recorder_quietly(live)
    assert recorded(tmp_path) == {}


class FakeCore:
    def __init__(self, live: LiveRoom) -> None:
        self.rooms = {5: live}


def stop_recorder_quietly(live: LiveRoom) -> None:
    """stop_recorder without the finishing task (mixing is not what these tests look at)."""
    assert live.recorder is not None
    for pid, _source in list(live.video_tracks):
        close_video(live, pid)
    live.recorder.end(live.recorder.clock_s())

