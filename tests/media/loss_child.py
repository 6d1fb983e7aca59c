"""Run inside a lossy network namespace (test_media_loss_netns.py): a MediaRoom and a bot publishing a WAV
over 127.0.0.1, the room's tap recording the bot's microphone twice from the same packets (through the
repairing path, and as the recorder wrote before), then a JSON summary on stdout.

usage: python loss_child.py WAV DATA_DIR SECONDS
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from recordings.manifest import read_manifest
from recordings.storage import MeetingRecorder, ParticipantInfo, RecordingsLayout, TrackHandle
from server.media.client import ClientConfig
from tests.media.meeting import Meeting, RecordingListener


class TwoWayTap(RecordingListener):
    def __init__(self, recorder: MeetingRecorder) -> None:
        super().__init__()
        self.recorder = recorder
        self.tracks: dict[str, TrackHandle] = {}
        self.packets = 0

    def on_audio_packet(self, participant_id: str, payload: bytes, rtp_timestamp: int, sequence_number: int,
                        red: bool, arrival_monotonic_s: float) -> None:
        super().on_audio_packet(participant_id, payload, rtp_timestamp, sequence_number, red,
                                arrival_monotonic_s)
        if not self.tracks:
            now = self.recorder.clock_s()
            for name in ("repaired", "plain"):
                info = ParticipantInfo(participant_id, name, name, "CHUMO", "UBND xã Chư Mố")
                self.tracks[name] = self.recorder.open_track(info, now, track_id=name)
        self.packets += 1
        self.tracks["repaired"].write_rtp(payload, rtp_timestamp, sequence_number, red=red)
        self.tracks["plain"].write(payload, rtp_timestamp)


async def main(wav: str, data_dir: Path, seconds: float) -> None:
    layout = RecordingsLayout(data_dir)
    recorder = MeetingRecorder.start(layout, "m1", fsync_interval_s=None)
    tap = TwoWayTap(recorder)
    meeting = Meeting()
    meeting.listener = tap
    meeting.room.listener = tap
    try:
        await meeting.join("a", ClientConfig(audio_file=wav, video=False))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
    finally:
        await meeting.close()
    recorder.end(recorder.clock_s())
    track = read_manifest(layout.meeting_dir("m1")).track("repaired")
    assert track.repair is not None
    print(json.dumps({
        "packets": tap.packets,
        "holes": track.repair.holes,
        "recovered_fec": track.repair.recovered_fec,
        "concealed": track.repair.concealed,
        "reordered": track.repair.reordered,
        "late": track.repair.late,
        "losses": [[x.start_s - track.start_s, x.end_s - track.start_s] for x in track.losses],
        "repaired": str(layout.meeting_dir("m1") / "tracks/repaired.ogg"),
        "plain": str(layout.meeting_dir("m1") / "tracks/plain.ogg"),
    }))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])))
