"""Run inside a network namespace (test_chromium_loss.py): a MediaRoom, a real Chromium publishing a WAV
through its fake microphone, and an aiortc viewer, all over 127.0.0.1. The room's tap records Chromium's
microphone through the repairing recorder; the summary (JSON, last line of stdout) holds both SDPs as the page
saw them, what Chromium sent (RED share, redundant blocks, Opus LBRR = in-band FEC), the server's receiver
reports as Chromium read them (remote-inbound-rtp), the recorder's repair counts and the aiortc viewer's.

usage: python red_child.py WAV DATA_DIR SECONDS [no-rr]   (no-rr: the server sends no receiver reports, as
before the reception statistics were fed: for comparison)
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from playwright.async_api import async_playwright

from recordings.manifest import read_manifest
from recordings.opuspacket import has_lbrr
from recordings.red import parse_red
from recordings.storage import MeetingRecorder, RecordingsLayout
from server.media.client import ClientConfig
from server.media.room import MediaRoom
from tests.e2e.chromium_child import launch, open_page, page_answer
from tests.media.loss_child import TwoWayTap
from tests.media.meeting import Meeting

PAGE_URL = "http://127.0.0.1:9/red"
REPORT_JS = """
async () => {
  window.report = async () => {
    const out = {local: pc.localDescription.sdp, remote: pc.remoteDescription.sdp, stats: []};
    (await pc.getStats()).forEach((s) => out.stats.push(s));
    return out;
  };
}
"""


class SendTap(TwoWayTap):
    """TwoWayTap that also counts what Chromium's packets carry."""

    def __init__(self, recorder: MeetingRecorder) -> None:
        super().__init__(recorder)
        self.red = self.redundant_blocks = self.lbrr = self.primaries = 0
        self.seqs: set[int] = set()

    def on_audio_packet(
        self,
        participant_id: str,
        payload: bytes,
        rtp_timestamp: int,
        sequence_number: int,
        red: bool,
        arrival_monotonic_s: float,
    ) -> None:
        if participant_id != "c":  # only Chromium's microphone is recorded
            return
        self.seqs.add(sequence_number)
        super().on_audio_packet(
            participant_id, payload, rtp_timestamp, sequence_number, red, arrival_monotonic_s
        )
        primary = payload
        if red:
            self.red += 1
            parsed = parse_red(payload, rtp_timestamp)
            if parsed is None:
                return
            self.redundant_blocks += len(parsed.redundant)
            primary = parsed.primary.data
        self.primaries += 1
        self.lbrr += has_lbrr(primary)


async def main(wav: str, data_dir: Path, seconds: float, no_rr: bool) -> None:
    if no_rr:
        MediaRoom._count_reception = lambda *args: None  # type: ignore[method-assign]
    layout = RecordingsLayout(data_dir)
    recorder = MeetingRecorder.start(layout, "m1", fsync_interval_s=None)
    tap = SendTap(recorder)
    meeting = Meeting()
    meeting.listener = tap
    meeting.room.listener = tap
    reports: list[dict[str, object]] = []
    async with async_playwright() as playwright:
        browser = await launch(playwright, wav)
        try:
            page = await open_page(browser, PAGE_URL, "red", others_recvonly=True)
            await page.evaluate(REPORT_JS)
            viewer = await meeting.join("v", ClientConfig(video=False))

            offer = await meeting.room.join("c", username="chromium", unit="CHUMO", publishes_video=False)
            await meeting.room.answer("c", await page_answer(page, offer, "c"))
            await meeting.settle()
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                await asyncio.sleep(1.0)
                report = await page.evaluate("report()")
                reports.append(report)
            final = reports[-1]
            viewer_stats = viewer.stats().by_username("chromium")
            assert viewer_stats is not None
            forwarded = [f for f in meeting.room.stats().forwarded if f.publisher_id == "c"]
            strip = meeting.room._streams[("c", "microphone")].forwarders["v"]
        finally:
            await meeting.close()
            await browser.close()
    recorder.end(recorder.clock_s())
    track = read_manifest(layout.meeting_dir("m1")).track("repaired")
    assert track.repair is not None
    remote_inbound = [
        {
            k: s.get(k)
            for k in ("fractionLost", "packetsLost", "jitter", "roundTripTime", "roundTripTimeMeasurements")
        }
        for r in reports
        for s in r["stats"]
        if s["type"] == "remote-inbound-rtp" and s.get("kind") == "audio"
    ]
    stats = final["stats"]
    codecs = {s["id"]: s for s in stats if s["type"] == "codec"}
    outbound = next(s for s in stats if s["type"] == "outbound-rtp" and s.get("kind") == "audio")
    inbound = [s for s in stats if s["type"] == "inbound-rtp" and s.get("kind") == "audio"]
    print(
        json.dumps(
            {
                "local_sdp": final["local"],
                "remote_sdp": final["remote"],
                "sent_codec": codecs.get(outbound.get("codecId"), {}).get("mimeType"),
                "packets_sent": outbound.get("packetsSent"),
                "received_codecs": [codecs.get(s.get("codecId"), {}).get("mimeType") for s in inbound],
                "received_packets": [s.get("packetsReceived") for s in inbound],
                "remote_inbound": remote_inbound,
                "tap_packets": tap.packets,
                "seq_span": max(tap.seqs) - min(tap.seqs) + 1 if tap.seqs else 0,
                "tap_red": tap.red,
                "redundant_blocks": tap.redundant_blocks,
                "primaries": tap.primaries,
                "lbrr": tap.lbrr,
                "holes": track.repair.holes,
                "recovered_red": track.repair.recovered_red,
                "recovered_fec": track.repair.recovered_fec,
                "concealed": track.repair.concealed,
                "reordered": track.repair.reordered,
                "late": track.repair.late,
                "viewer_audio_frames": viewer_stats.audio_frames,
                "viewer_decode_errors": viewer_stats.decode_errors,
                "viewer_packets_lost": viewer_stats.packets_lost,
                "forwarded_to_v": [f.packets_sent for f in forwarded if f.viewer_id == "v"],
                "red_stripped": strip.red_stripped,
                "red_malformed": strip.red_malformed,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]), "no-rr" in sys.argv[4:]))
