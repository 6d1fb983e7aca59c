"""What the Chromium children (dtx_child.py, red_child.py) share: Debian's Chromium, launched headless by
Playwright with its fake microphone playing a WAV; a page at an http://127.0.0.1 URL (a secure context for
getUserMedia) that Playwright answers itself, no HTTP server; the page's ``answer(sdp, ownMid)``, which
answers the server's offer with the microphone on the page's own m-line (``page_answer``)."""

from __future__ import annotations

from playwright.async_api import Browser, Page, Playwright

from server.media.events import Offer

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]
# AUDIO: getUserMedia's audio constraints; OTHERS: what is done to the transceivers of the other m-lines
ANSWER_JS = """
async () => {
  window.pc = new RTCPeerConnection({iceServers: []});
  window.mic = await navigator.mediaDevices.getUserMedia({audio: AUDIO});
  window.answer = async (sdp, ownMid) => {
    await pc.setRemoteDescription({type: "offer", sdp});
    for (const tr of pc.getTransceivers()) {
      if (tr.mid === ownMid) {
        tr.direction = "sendonly";
        if (!tr.sender.track) await tr.sender.replaceTrack(mic.getAudioTracks()[0]);
      }OTHERS
    }
    await pc.setLocalDescription(await pc.createAnswer());
    if (pc.iceGatheringState !== "complete") {
      await new Promise((ok) => {
        pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && ok());
        setTimeout(ok, 3000);
      });
    }
    return pc.localDescription.sdp;
  };
}
"""
OTHERS_RECVONLY = """ else if (tr.mid !== null) {
        tr.direction = "recvonly";
      }"""


async def launch(playwright: Playwright, wav: str) -> Browser:
    """Chromium whose fake microphone plays ``wav`` (a fresh profile: Playwright's)."""
    return await playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=[*FLAGS, f"--use-file-for-fake-audio-capture={wav}"]
    )


async def open_page(
    browser: Browser, url: str, title: str, *, audio: str = "true", others_recvonly: bool = False
) -> Page:
    """A new page at ``url`` with its peer connection, microphone and ``answer`` ready; ``audio`` is the
    microphone's constraints (JavaScript), ``others_recvonly`` makes every other m-line receive-only."""
    page = await browser.new_page()
    body = f"<!doctype html><title>{title}</title>"
    await page.route(url, lambda route: route.fulfill(body=body, content_type="text/html"))
    await page.goto(url)
    script = ANSWER_JS.replace("AUDIO", audio).replace("OTHERS", OTHERS_RECVONLY if others_recvonly else "")
    await page.evaluate(script)
    return page


async def page_answer(page: Page, offer: Offer, participant_id: str) -> str:
    """The page's answer to the server's ``offer``, its microphone on ``participant_id``'s own m-line."""
    own = next(s.mid for s in offer.streams if s.participant_id == participant_id)
    return str(await page.evaluate("([sdp, mid]) => answer(sdp, mid)", [offer.sdp, own]))
