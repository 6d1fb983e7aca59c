"""Child process for the disk-full test: a file-size limit (RLIMIT_FSIZE) makes writes fail with EFBIG.

argv: data_dir meeting_id limit_bytes. Records speech until the recorder reports an error, keeps
calling write() afterwards (the meeting goes on), and prints one JSON line with what happened.
"""

from __future__ import annotations

import json
import resource
import signal
import sys
from pathlib import Path

from rec_speech import PACKET_SAMPLES, clip_paths, encode_opus, load_speech

from recordings.storage import MeetingRecorder, ParticipantInfo, RecordingFailure, RecordingsLayout


def main() -> None:
    data_dir, meeting_id, limit = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    packets = encode_opus(load_speech(clip_paths(3)))
    failures: list[RecordingFailure] = []
    recorder = MeetingRecorder.start(RecordingsLayout(data_dir), meeting_id, on_error=failures.append)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG from write() instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    chumo = ParticipantInfo("p-chumo", "chumo", "Điểm cầu Chư Mố", "CHUMO", "UBND xã Chư Mố")
    iatul = ParticipantInfo("p-iatul", "iatul", "Điểm cầu Ia Tul", "IATUL", "UBND xã Ia Tul")
    first = recorder.open_track(chumo, 0.0)
    second = recorder.open_track(iatul, 0.0)
    written_before_error = 0
    timestamp = 0
    for index in range(4000):  # 80 s of audio: far past the limit
        payload = packets[index % len(packets)]
        first.write(payload, timestamp)
        second.write(payload, timestamp)
        timestamp += PACKET_SAMPLES
        if recorder.error is None:
            written_before_error = index + 1
    late = recorder.open_track(ParticipantInfo("p-late", "late", "Muộn", "KIMTAN", "UBND xã Kim Tân"), 90.0)
    late.write(packets[0], 0)
    recorder.end(95.0)
    print(json.dumps({
        "error": recorder.error,
        "callbacks": [f.message for f in failures],
        "errno": failures[0].errno if failures else None,
        "track_id": failures[0].track_id if failures else None,
        "written_before_error": written_before_error,
        "still_recording": [first.recording, second.recording, late.recording],
        "tracks": [first.track_id, second.track_id],
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
