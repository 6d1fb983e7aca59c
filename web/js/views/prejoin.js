// "Kiểm tra điểm cầu": camera and microphone preview with a level meter, and a connection test to the server:
// round trips (HTTP, signaling) and the media path itself (room/pathcheck.js: a short peer connection through
// ICE, loss, round trip and bitrate over a few seconds), ending with a verdict in plain Vietnamese.
import { api } from "../api.js";
import { h, mount } from "../dom.js";
import { formatDateTime, t } from "../i18n.js";
import { levelBar, watchLevel } from "../media/levels.js";
import { loadChoice, openLocalMedia, saveChoice } from "../media/devices.js";
import { ensureLinkStyle } from "../room/links.js";
import { measureMediaPath, pathVerdict } from "../room/pathcheck.js";
import { Signaling } from "../room/signaling.js";

const RTT_SAMPLES = 5;

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function render({ main, params, navigate }) {
  const meetingId = Number(params[0]);
  const meeting = await api.get(`/api/meetings/${meetingId}`);
  const choice = loadChoice();
  let stream = null;
  let stopLevel = () => {};

  const video = h("video.preview", { autoplay: true, muted: true, playsInline: true, "aria-label": t("check.camera_preview") });
  const bar = levelBar(t("check.mic_level"));
  const camSelect = h("select#cam", { "aria-label": t("check.camera") });
  const micSelect = h("select#mic", { "aria-label": t("check.microphone") });
  const audioOnly = h("input#audio-only", { type: "checkbox", checked: choice.audioOnly, "aria-label": t("room.audio_only") });
  const sendVideo = h("input#send-video", { type: "checkbox", checked: choice.publishVideo, "aria-label": t("check.send_video") });
  const mediaStatus = h("p.small", { "data-testid": "media-status", role: "status" }, t("common.loading"));
  const results = h("dl.results", { "data-testid": "net-results" });
  const netStatus = h("p.small", { role: "status" });
  const verdict = h("p.own-link", { "data-testid": "net-verdict", role: "status", "aria-live": "polite", hidden: true });
  const testBtn = h("button.btn", { type: "button", "aria-label": t("check.run_net"), onclick: runNetTest }, t("check.run_net"));

  function rememberChoice() {
    Object.assign(choice, { cameraId: camSelect.value, micId: micSelect.value, audioOnly: audioOnly.checked, publishVideo: sendVideo.checked });
    saveChoice(choice);
  }

  async function openMedia() {
    stopLevel();
    if (stream) stream.getTracks().forEach((tr) => tr.stop());
    rememberChoice();
    try {
      stream = await openLocalMedia(choice);
    } catch (err) {
      mediaStatus.textContent = t("check.media_failed", { error: err.message || err.name });
      mediaStatus.className = "small error-text";
      return;
    }
    video.srcObject = stream;
    stopLevel = watchLevel(stream, (level) => bar.update(level));
    const v = stream.getVideoTracks()[0];
    const a = stream.getAudioTracks()[0];
    mediaStatus.className = "small ok-text";
    mediaStatus.textContent = [a ? t("check.mic_ok", { name: a.label }) : t("check.no_mic"),
      v ? t("check.cam_ok", { name: v.label }) : t("check.no_cam")].join(" · ");
    await listDevices();
  }

  async function listDevices() {
    const devices = await navigator.mediaDevices.enumerateDevices();
    const fill = (select, kind, chosen) => mount(select, devices.filter((d) => d.kind === kind)
      .map((d, i) => h("option", { value: d.deviceId, selected: d.deviceId === chosen }, d.label || `${kind} ${i + 1}`)));
    fill(camSelect, "videoinput", choice.cameraId);
    fill(micSelect, "audioinput", choice.micId);
  }

  async function runNetTest() {
    testBtn.disabled = true;
    mount(results);
    netStatus.textContent = t("check.testing");
    const row = (label, value, ok) => results.append(h("dt", {}, label), h(`dd.${ok ? "ok-text" : "error-text"}`, {}, value));
    try {
      const http = [];
      for (let i = 0; i < RTT_SAMPLES; i++) {
        const t0 = performance.now();
        await fetch("/api/health", { cache: "no-store" });
        http.push(performance.now() - t0);
      }
      row(t("check.http_rtt"), `${median(http).toFixed(1)} ms`, true);
      if (meeting.status === "live") {
        const sig = new Signaling(meetingId, { reconnect: false });
        await sig.connect();
        const rtts = [];
        for (let i = 0; i < RTT_SAMPLES; i++) rtts.push(await sig.measureRtt());
        sig.close();
        const ms = median(rtts);
        row(t("check.ws_rtt"), `${ms.toFixed(1)} ms`, ms < 300);
        results.dataset.wsRttMs = ms.toFixed(1);
      } else {
        row(t("check.ws_rtt"), t("check.ws_not_live"), true);
      }
      netStatus.textContent = t("path.testing");
      const path = await measureMediaPath();
      const v = pathVerdict(path);
      row(t("path.label"), v.figures, path.ok && v.rating !== "poor");
      if (path.ok) {
        Object.assign(results.dataset, {
          pathRttMs: path.rttMs === null ? "" : path.rttMs.toFixed(1),
          pathLossPct: path.lossPct.toFixed(1),
          pathKbps: path.kbps.toFixed(0),
        });
      }
      ensureLinkStyle();
      verdict.hidden = false;
      verdict.dataset.quality = v.rating;
      verdict.replaceChildren(h("span.q", {}, t(`room.q_${v.rating}`)), " ", v.text);
      netStatus.textContent = t("check.done");
      results.dataset.done = "1";
    } catch (err) {
      row(t("check.ws_rtt"), err.message, false);
      netStatus.textContent = t("check.failed");
    } finally {
      testBtn.disabled = false;
    }
  }

  camSelect.addEventListener("change", openMedia);
  micSelect.addEventListener("change", openMedia);
  sendVideo.addEventListener("change", openMedia);
  audioOnly.addEventListener("change", rememberChoice);

  const joinBtn = h("button.btn.primary.big", {
    type: "button", disabled: meeting.status !== "live", "aria-label": t("meeting.join"),
    onclick: () => { rememberChoice(); navigate(`/meetings/${meetingId}/room`); },
  }, t("meeting.join"));

  mount(main,
    h("div.page-head", {}, h("div", {}, h("h1", {}, t("check.title")), h("p.muted", {}, meeting.title, " · ", formatDateTime(meeting.starts_at))),
      h("a.btn.ghost", { href: "#/meetings", "aria-label": t("common.back") }, "← ", t("common.back"))),
    h("div.grid-2", {},
      h("section.card", { "aria-labelledby": "chk-media" },
        h("h2#chk-media", {}, t("check.media")),
        video, h("div.field", {}, h("label", { for: "mic" }, t("check.mic_level")), bar),
        mediaStatus,
        h("div.form-grid", {},
          h("div.field", {}, h("label", { for: "cam" }, t("check.camera")), camSelect),
          h("div.field", {}, h("label", { for: "mic" }, t("check.microphone")), micSelect)),
        h("label.check", {}, sendVideo, " ", t("check.send_video")),
        h("label.check", {}, audioOnly, " ", t("room.audio_only_hint"))),
      h("section.card", { "aria-labelledby": "chk-net" },
        h("h2#chk-net", {}, t("check.network")),
        h("p.small.muted", {}, t("check.network_hint")),
        testBtn, netStatus, results, verdict,
        h("hr"),
        h("p", {}, meeting.status === "live" ? t("check.ready") : t("check.not_live")),
        joinBtn)));

  await openMedia();
  runNetTest();
  return () => {
    stopLevel();
    if (stream) stream.getTracks().forEach((tr) => tr.stop());
  };
}
