"""Run inside a network namespace (test_chromium_dtx.py): two MediaRooms over 127.0.0.1, one offering Opus DTX
(the default, `MediaConfig.opus_dtx`) and one not, each with a real Chromium page publishing the same silent
fake microphone. Both are measured over the same window; the summary (JSON, last line of stdout) holds, per
room, the SDP the page received (the server's offer) and answered, the audio packets the server received
from the page (`ParticipantStats.audio_packets_received`) and what Chromium says it sent.

usage: python dtx_child.py SILENT_WAV SECONDS
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from playwright.async_api import Page, async_playwright

from server.media.config import MediaConfig
from server.media.room import MediaRoom
from tests.e2e.chromium_child import launch, open_page, page_answer

PAGE_URL = "http://127.0.0.1:9/dtx"
AUDIO = "{echoCancellation: true, noiseSuppression: true}"  # the web client's constraints: devices.js
SENT_JS = """
async () => {
  window.sent = async () => {
    let packets = 0;
    (await pc.getStats()).forEach((s) => {
      if (s.type === "outbound-rtp" && s.kind === "audio") packets += s.packetsSent;
    });
    const local = pc.localDescription.sdp, remote = pc.remoteDescription.sdp;
    return {packets, state: pc.connectionState, local, remote};
  };
}
"""


async def connect(room: MediaRoom, page: Page) -> None:
    await page.evaluate(SENT_JS)
    offer = await room.join("c", username="chromium", unit="CHUMO", publishes_video=False)
    await room.answer("c", await page_answer(page, offer, "c"))
    for _ in range(100):
        if (await page.evaluate("sent()"))["state"] == "connected":
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("Chromium did not connect")


def received(room: MediaRoom) -> int:
    return next(p.audio_packets_received for p in room.stats().participants if p.participant_id == "c")


async def main(wav: str, seconds: float) -> None:
    rooms = {
        dtx: MediaRoom(f"dtx-{dtx}", MediaConfig(ice_addresses=("127.0.0.1",), opus_dtx=dtx))
        for dtx in (True, False)
    }
    out: dict[str, Any] = {}
    async with async_playwright() as playwright:
        browser = await launch(playwright, wav)
        try:
            pages: dict[bool, Page] = {}
            for dtx, room in rooms.items():
                pages[dtx] = page = await open_page(browser, PAGE_URL, "dtx", audio=AUDIO)
                await connect(room, page)
            await asyncio.sleep(2.0)  # the encoders settle (DTX starts after a few hundred ms of silence)
            start = {
                dtx: (received(room), (await pages[dtx].evaluate("sent()"))["packets"])
                for dtx, room in rooms.items()
            }
            await asyncio.sleep(seconds)
            for dtx, room in rooms.items():
                report = await pages[dtx].evaluate("sent()")
                out["dtx" if dtx else "no_dtx"] = {
                    "received": received(room) - start[dtx][0],
                    "sent": report["packets"] - start[dtx][1],
                    "offer": report["remote"],
                    "answer": report["local"],
                }
        finally:
            for room in rooms.values():
                await room.close()
            await browser.close()
    out["seconds"] = seconds
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
