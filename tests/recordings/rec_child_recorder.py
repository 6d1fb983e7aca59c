"""Child process for the crash test: records speech through MeetingRecorder at a set pace.

argv: data_dir meeting_id speed (1.0 = real time). Prints "written N" after each packet, forever
(looping over the speech), until the parent kills it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rec_speech import PACKET_SAMPLES, SAMPLE_RATE_HZ, clip_paths, encode_opus, load_speech

from recordings.storage import MeetingRecorder, ParticipantInfo, RecordingsLayout


def main() -> None:
    data_dir, meeting_id, speed = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    packets = encode_opus(load_speech(clip_paths(3)))
    recorder = MeetingRecorder.start(RecordingsLayout(data_dir), meeting_id)
    who = ParticipantInfo("p-chumo", "chumo", "Điểm cầu Chư Mố", "CHUMO", "UBND xã Chư Mố")
    handle = recorder.open_track(who, 0.25)
    timestamp = 77_000
    period_s = PACKET_SAMPLES / SAMPLE_RATE_HZ / speed
    began = time.monotonic()
    count = 0
    while True:
        handle.write(packets[count % len(packets)], timestamp)
        timestamp += PACKET_SAMPLES
        count += 1
        print(f"written {count}", flush=True)
        delay = began + count * period_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)


if __name__ == "__main__":
    main()
