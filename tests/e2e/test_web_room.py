"""The meeting room in real Chromium: three connection points see each other, known speech fed as one
browser's microphone reaches the others as itself (recorded at a listener, compared with the WAV), the chair
gives and takes the floor (audio stops being forwarded) and calls the roll."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from tests.audio import aligned_share, loud_windows, pcm, speech_span_s, waveform_correlation
from tests.e2e.conftest import SPEECH_CLIPS, Chromium, RunningServer
from tests.e2e.pages import join_room, login, new_page, open_demo_meeting, shot
from tests.speech import shippable

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.any_database]

SETTLE_S = 1.5  # let packets in flight arrive after a mute before measuring that nothing more comes
MEASURE_S = 2.0
HEARD_MS = 3000  # recorded at the listener
# synthesised speech through Chromium's audio processing and Opus: waveform correlation 0.43-0.71 seen for the
# played file (real VIVOS speech: 0.80), but 0.18-0.57 for other sentences of the same monotone voice; what
# tells them apart is order: 9-10 of 10 windows of the recording at one offset of the file (20 ms), 0-1
# for the others
HEARD_MIN_CORRELATION = 0.3
HEARD_MIN_ALIGNED = 0.5
# a recording with fewer loud quarter seconds than this says too little about order (CI, 2026-12-05: a loaded
# machine's 3 s recording held 0-2 loud windows and scored 0.00 for file and control alike; a helper's loaded
# run saw correlation 0.28): a recording that fails is judged again on a new one, up to three
HEARD_MIN_LOUD_WINDOWS = 6
HEARD_RECORDINGS = 3

INBOUND_JS = """async () => {
  const g = window.__giaoban;
  const report = await g.session.pc.getStats();
  const out = [];
  report.forEach((s) => {
    if (s.type !== "inbound-rtp") return;
    const label = g.session.streams.get(s.mid) || {};
    out.push({ mid: s.mid, kind: s.kind, unit: label.unit || null, source: label.source || null,
      bytes: s.bytesReceived || 0, energy: s.totalAudioEnergy || 0, frames: s.framesDecoded || 0 });
  });
  return out;
}"""

REMOTE_VIDEOS_JS = """() => [...document.querySelectorAll('.tile video.remote')].map((v) => ({
  unit: v.closest('.tile').dataset.unit || null,
  label: v.closest('.tile').querySelector('.tile-name').textContent,
  width: v.videoWidth, height: v.videoHeight, frames: v.getVideoPlaybackQuality().totalVideoFrames }))"""

VIDEOS_SHOWN_JS = """(names) => {
  const tiles = [...document.querySelectorAll('.tile')]
    .filter((t) => names.includes(t.querySelector('.tile-name').textContent));
  return tiles.length === names.length && tiles.every((t) => t.querySelector('video.remote').videoWidth > 0);
}"""

HEARS_JS = """async (unit) => {
  const g = window.__giaoban;
  const report = await g.session.pc.getStats();
  let energy = 0;
  report.forEach((s) => {
    const label = g.session.streams.get(s.mid);
    if (s.type === 'inbound-rtp' && s.kind === 'audio' && label && label.unit === unit) {
      energy = s.totalAudioEnergy || 0;
    }
  });
  return energy > 0;
}"""


RECORD_JS = """async ([unit, ms]) => {
  const g = window.__giaoban;
  const t = g.session.pc.getTransceivers().find((x) => {
    const label = g.session.streams.get(x.mid);
    return label && label.unit === unit && x.receiver.track.kind === 'audio';
  });
  const stream = new MediaStream([t.receiver.track]);
  const recorder = new MediaRecorder(stream, { mimeType: 'audio/webm;codecs=opus' });
  const chunks = [];
  recorder.ondataavailable = (e) => chunks.push(e.data);
  const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
  recorder.start();
  await new Promise((resolve) => setTimeout(resolve, ms));
  recorder.stop();
  await stopped;
  const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}"""


def inbound_audio(page: Page, unit: str, wait_s: float = 5.0) -> dict[str, Any]:
    """The receiver's inbound-rtp audio stats of one unit's microphone. Chromium lists an SSRC only once its
    packets arrive, and a renegotiation (someone joins, last-N changes) may start a new one: wait for it."""
    deadline = time.monotonic() + wait_s
    while True:
        every = page.evaluate(INBOUND_JS)
        stats = [s for s in every if s["kind"] == "audio" and s["unit"] == unit]
        if len(stats) == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    labels = page.evaluate("() => [...window.__giaoban.session.streams.values()]")
    assert len(stats) == 1, f"one inbound audio stream from {unit} expected, got {every} (labels {labels})"
    return stats[0]


def remote_videos(page: Page) -> dict[str, dict[str, Any]]:
    return {v["label"]: v for v in page.evaluate(REMOTE_VIDEOS_JS)}


def _heard_verdict(heard: np.ndarray, looped: np.ndarray, period: int, others: np.ndarray) -> dict[str, Any]:
    """Whether a recording at the listener is the speaker's file: loud enough to judge, alike in waveform,
    and in order, not only alike: each loud quarter second is found at one offset of the file, and nowhere
    consistent in sentences of the same voice that were not played (the control)."""
    loud = loud_windows(heard)
    correlation = waveform_correlation(heard, looped) if len(heard) else 0.0
    share = aligned_share(heard, looped, period=period)
    control = aligned_share(heard, others)
    passed = (
        loud >= HEARD_MIN_LOUD_WINDOWS
        and speech_span_s(heard) > 1.0
        and correlation > HEARD_MIN_CORRELATION
        and share >= HEARD_MIN_ALIGNED
        and share > control + HEARD_MIN_ALIGNED / 2
    )
    return {"loud_windows": loud, "correlation": round(correlation, 2), "in_order": round(share, 2),
            "control": round(control, 2), "passed": passed}


# the same meeting with one stream per participant on every connection, and bounded as a province meeting's
# (GIAOBAN_BOUNDED_FROM: each browser gets m-lines only for what it receives; speakers on reused audio slots)
@pytest.mark.parametrize(
    "server_extra_env",
    [{}, {"GIAOBAN_BOUNDED_FROM": "2"}],
    ids=["every stream negotiated", "bounded"],
    indirect=True,
)
def test_three_points_see_hear_mute_and_roll_call(server: RunningServer, chromium: Chromium, media_dir: Path,
                                                  screenshots: Path, tmp_path: Path) -> None:
    hall = chromium.launch()  # three browsers, one per connection point
    listener_browser = chromium.launch()
    speaker_browser = chromium.launch(fake_audio=media_dir / "speech-48k.wav")

    chair = new_page(hall, server.base_url)
    login(chair, "chutri", server.accounts["chutri"].password)
    meeting_id = open_demo_meeting(chair)

    listener = new_page(listener_browser, server.base_url)
    login(listener, "churang", server.accounts["churang"].password)
    speaker = new_page(speaker_browser, server.base_url)
    login(speaker, "chumo", server.accounts["chumo"].password)

    join_room(chair, meeting_id)
    join_room(listener, meeting_id)
    join_room(speaker, meeting_id)

    # every participant sees the two others' video, labelled with their unit names, frames advancing
    expected = {
        chair: {"UBND xã Chư Răng", "UBND xã Chư Mố"},
        listener: {"UBND huyện Ia Pa", "UBND xã Chư Mố"},
        speaker: {"UBND huyện Ia Pa", "UBND xã Chư Răng"},
    }
    for page, names in expected.items():
        page.wait_for_function(VIDEOS_SHOWN_JS, arg=sorted(names), timeout=30_000)
    before = {id(p): remote_videos(p) for p in expected}
    time.sleep(1.0)
    for page, names in expected.items():
        after = remote_videos(page)
        for name in names:
            assert after[name]["width"] > 0 and after[name]["height"] > 0
            assert after[name]["frames"] > before[id(page)][name]["frames"], f"video of {name} is frozen"
    shot(chair, screenshots, "05-room-chair")

    # the commune's microphone is closed until the chair gives the floor: nothing of it is forwarded
    expect(speaker.locator("#btn-mic")).to_have_attribute("data-state", "off")
    chair.get_by_role("button", name="Mời UBND xã Chư Mố phát biểu").click()
    expect(speaker.locator("#btn-mic")).to_have_attribute("data-state", "on")
    expect(chair.locator(".tile[data-unit=CHUMO] .flag.floor")).to_be_visible()

    # the known speech reaches the other commune: audio energy and bytes grow at the receiver
    listener.wait_for_function(HEARS_JS, arg="CHUMO", timeout=15_000)
    a0 = inbound_audio(listener, "CHUMO")
    time.sleep(MEASURE_S)
    a1 = inbound_audio(listener, "CHUMO")
    speaking_energy = a1["energy"] - a0["energy"]
    assert a1["bytes"] - a0["bytes"] > 4000, (a0, a1)
    assert speaking_energy > 0, (a0, a1)
    # and what arrives is the speech itself: seconds recorded from the listener's received track have the
    # waveform of the WAV the speaker's browser plays as its microphone
    source = pcm(media_dir / "speech-48k.wav")
    looped = np.concatenate([source, source])  # the browser loops the file: the recording may span its end
    others = np.concatenate([pcm(u.path) for u in shippable()[SPEECH_CLIPS:]])
    heard_path = tmp_path / "heard.webm"
    verdicts = []
    for _ in range(HEARD_RECORDINGS):  # a starved browser may play concealment for seconds: judge anew
        r0 = inbound_audio(listener, "CHUMO")
        heard_path.write_bytes(base64.b64decode(listener.evaluate(RECORD_JS, ["CHUMO", HEARD_MS])))
        r1 = inbound_audio(listener, "CHUMO")
        verdicts.append(_heard_verdict(pcm(heard_path), looped, len(source), others))
        # whether packets kept coming while it recorded (a silent recording with bytes is the browser's)
        verdicts[-1]["bytes_while_recording"] = r1["bytes"] - r0["bytes"]
        print(f"listener's recording vs the speaker's WAV: {verdicts[-1]}")
        if verdicts[-1]["passed"]:
            break
    assert verdicts[-1]["passed"], verdicts
    shot(speaker, screenshots, "06-room-speaker")

    # the chair mutes the commune: the server stops forwarding, the receivers get nothing more
    chair.get_by_role("tab", name="Điểm cầu").click()
    chair.get_by_role("button", name="Tắt micrô của UBND xã Chư Mố").click()
    expect(speaker.get_by_test_id("room-error")).to_contain_text("Chủ trì đã tắt micrô")
    expect(speaker.locator("#btn-mic")).to_have_attribute("data-state", "off")
    time.sleep(SETTLE_S)
    m0 = inbound_audio(listener, "CHUMO")
    time.sleep(MEASURE_S)
    m1 = inbound_audio(listener, "CHUMO")
    assert m1["bytes"] - m0["bytes"] < 500, (m0, m1)
    assert m1["energy"] - m0["energy"] < 0.05 * speaking_energy, (m0, m1, speaking_energy)
    # the commune cannot reopen its own microphone without the floor
    speaker.locator("#btn-mic").click()
    expect(speaker.locator("#btn-mic")).to_have_attribute("data-state", "off")

    # roll-call: joined units are present online; the chair records one in person and one absent with a reason
    chair.get_by_role("tab", name="Điểm danh").click()
    roll = chair.get_by_test_id("roll-call")
    expect(roll.locator("tr[data-unit=CHUMO]")).to_have_attribute("data-status", "present_online")
    expect(roll.locator("tr[data-unit=CHURANG]")).to_have_attribute("data-status", "present_online")
    chair.get_by_label("Trạng thái điểm danh của UBND xã Kim Tân").select_option("present_in_person")
    expect(roll.locator("tr[data-unit=KIMTAN]")).to_have_attribute("data-status", "present_in_person")
    chair.get_by_label("Trạng thái điểm danh của UBND xã Ia Tul").select_option("absent")
    reason = chair.get_by_label("Lý do vắng của UBND xã Ia Tul")
    reason.fill("Mất điện lưới")
    reason.press("Enter")
    expect(roll.locator("tr[data-unit=IATUL]")).to_have_attribute("data-status", "absent")
    shot(chair, screenshots, "07-roll-call")
    view = chair.evaluate("id => fetch('/api/meetings/' + id).then((r) => r.json())", meeting_id)
    stored = {e["unit"]: e for e in view["roll_call"]}
    assert stored["KIMTAN"]["status"] == "present_in_person"
    assert (stored["IATUL"]["status"], stored["IATUL"]["reason"]) == ("absent", "Mất điện lưới")
    assert stored["CHUMO"]["status"] == "present_online"
    assert stored["POTO"]["status"] == "not_called"

    # audio-only (a slow link): the listener stops receiving video, the tiles show the units instead
    listener.get_by_role("button", name="Chỉ âm thanh").click()
    expect(listener.locator("#btn-audio-only")).to_have_attribute("aria-pressed", "true")
    expect(listener.get_by_test_id("video-grid")).to_have_class("video-grid audio-only")
    time.sleep(SETTLE_S)
    v0 = remote_videos(listener)
    time.sleep(MEASURE_S)
    v1 = remote_videos(listener)
    assert all(v1[n]["frames"] == v0[n]["frames"] for n in expected[listener]), (v0, v1)
    listener.get_by_role("button", name="Chỉ âm thanh").click()
    expect(listener.locator("#btn-audio-only")).to_have_attribute("aria-pressed", "false")
    listener.wait_for_function(
        "(before) => [...document.querySelectorAll('.tile video.remote')]"
        ".every((v) => v.getVideoPlaybackQuality().totalVideoFrames > before)",
        arg=max(v["frames"] for v in v1.values()), timeout=15_000)

    # chat reaches everyone, labelled with the sender's unit
    chair.get_by_role("tab", name="Trao đổi").click()
    chair.get_by_label("Nhập tin nhắn").fill("Đề nghị các xã gửi báo cáo trước 17 giờ")
    chair.get_by_role("button", name="Gửi", exact=True).click()
    listener.get_by_role("tab", name="Trao đổi (1)").click()
    expect(listener.locator("ol.chat-log li").last).to_contain_text("UBND huyện Ia Pa")
    expect(listener.locator("ol.chat-log li").last).to_contain_text("Đề nghị các xã gửi báo cáo trước 17 giờ")

    # a network drop: the socket closes under the listener, which reconnects with the same identity and
    # receives video again
    listener.evaluate("() => window.__giaoban.sig.drop()")
    expect(listener.get_by_test_id("connection")).to_have_attribute("data-state", "reconnecting")
    expect(listener.get_by_test_id("connection")).to_have_attribute("data-state", "connected", timeout=15_000)
    listener.wait_for_function(VIDEOS_SHOWN_JS, arg=sorted(expected[listener]), timeout=30_000)
    frames = remote_videos(listener)
    time.sleep(1.0)
    again = remote_videos(listener)
    assert all(again[n]["frames"] > frames[n]["frames"] for n in expected[listener]), (frames, again)
    me = listener.evaluate("() => window.__giaoban.state.me")
    assert me == chair.evaluate("() => [...window.__giaoban.state.participants.values()]"
                                ".find((p) => p.unit === 'CHURANG').id")
    expect(roll.locator("tr[data-unit=CHURANG]")).to_have_attribute("data-status", "present_online")
