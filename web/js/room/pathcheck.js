// The pre-join check of the media path: a short peer connection to the server through ICE (UDP, DTLS, SCTP:
// the path the meeting's sound and pictures take), one unreliable data channel the server echoes
// (POST /api/media/check, server/media/echo.py). Sent at a steady rate for a few seconds, then from getStats:
// loss (data-channel messages sent vs received back), round trip (the nominated candidate pair) and bitrate
// (bytes received on that pair); and a verdict in plain Vietnamese.
import { api } from "../api.js";
import { t } from "../i18n.js";
import { STRINGS } from "../strings.js";
import { percent } from "./links.js";

const VI = {
  "path.label": "Đường truyền hình ảnh, tiếng nói (UDP qua ICE)",
  "path.figures": "khứ hồi {rtt} ms · mất gói {loss} · {kbps} kb/s",
  "path.testing": "Đang đo đường truyền hình ảnh, tiếng nói…",
  "path.good": "Đường truyền tốt: đủ cho hình ảnh và tiếng nói của cuộc họp.",
  "path.fair": "Đường truyền trung bình: tiếng nói vẫn rõ; nếu hình ảnh bị giật, hãy chọn chỉ nhận âm thanh.",
  "path.poor": "Đường truyền kém: nên tham gia chỉ bằng âm thanh và báo cán bộ kỹ thuật kiểm tra mạng.",
  "path.failed": "Không kết nối được đường truyền hình ảnh, tiếng nói (UDP) tới máy chủ: kiểm tra tường lửa hoặc mạng, rồi kiểm tra lại.",
  "path.busy": "Máy chủ đang bận kiểm tra cho điểm cầu khác: thử lại sau ít giây.",
};
const EN = {
  "path.label": "Media path (UDP through ICE)",
  "path.figures": "round trip {rtt} ms · loss {loss} · {kbps} kb/s",
  "path.testing": "Measuring the media path…",
  "path.good": "Good link: enough for the meeting's video and sound.",
  "path.fair": "Fair link: speech stays clear; if video stutters, choose audio only.",
  "path.poor": "Poor link: join with audio only and ask the technician to check the network.",
  "path.failed": "No media connection (UDP) to the server: check the firewall or the network, then test again.",
  "path.busy": "The server is checking other connection points: try again in a few seconds.",
};
for (const [table, extra] of [
  [STRINGS.vi, VI],
  [STRINGS.en, EN],
]) {
  for (const [key, text] of Object.entries(extra)) if (!(key in table)) table[key] = text;
}

export const PATH_TEST = { durationMs: 4000, drainMs: 1200, rateKbps: 1000, messageBytes: 1000, connectMs: 10000 };
// the server's link rating (server/media/quality.py) plus what a meeting needs: audio ~50 kb/s, a few videos
const GOOD = { lossPct: 2, rttMs: 150, kbps: 700 };
const POOR = { lossPct: 8, rttMs: 500, kbps: 250 };

/** "good" / "fair" / "poor" for one measurement. */
export function pathRating({ lossPct, rttMs, kbps }) {
  const rtt = rttMs ?? 0;
  if (lossPct >= POOR.lossPct || rtt >= POOR.rttMs || kbps < POOR.kbps) return "poor";
  if (lossPct >= GOOD.lossPct || rtt >= GOOD.rttMs || kbps < GOOD.kbps) return "fair";
  return "good";
}

/** The verdict sentence and the figures line of a result of measureMediaPath(). */
export function pathVerdict(result) {
  if (!result.ok) return { rating: "poor", text: t(result.busy ? "path.busy" : "path.failed"), figures: result.error || "" };
  const rating = pathRating(result);
  const figures = t("path.figures", {
    rtt: result.rttMs === null ? "—" : Math.round(result.rttMs),
    loss: percent(result.lossPct),
    kbps: Math.round(result.kbps),
  });
  return { rating, text: t(`path.${rating}`), figures };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function waitFor(predicate, ms) {
  return new Promise((resolve) => {
    const started = performance.now();
    const tick = () => {
      if (predicate()) resolve(true);
      else if (performance.now() - started > ms) resolve(false);
      else setTimeout(tick, 50);
    };
    tick();
  });
}

async function pathStats(pc) {
  const report = await pc.getStats();
  let pair = null;
  let channel = null;
  report.forEach((s) => {
    if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s;
    if (s.type === "data-channel") channel = s;
  });
  return { pair, channel };
}

/** Measure the media path: {ok, rttMs, lossPct, kbps, sent, received} (ok false: no connection). */
export async function measureMediaPath(opts = {}) {
  const o = { ...PATH_TEST, ...opts };
  const pc = new RTCPeerConnection({ iceServers: o.iceServers || [] });
  try {
    const channel = pc.createDataChannel("path-check", { ordered: false, maxRetransmits: 0 });
    channel.binaryType = "arraybuffer";
    let received = 0;
    const rtts = [];
    channel.onmessage = (event) => {
      received += 1;
      const view = new DataView(event.data);
      rtts.push(performance.now() - view.getFloat64(4));
    };
    await pc.setLocalDescription(await pc.createOffer());
    await waitFor(() => pc.iceGatheringState === "complete", 3000);
    let answer;
    try {
      answer = await api.post("/api/media/check", { sdp: pc.localDescription.sdp });
    } catch (err) {
      return { ok: false, busy: err.status === 503, error: err.message };
    }
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    if (!(await waitFor(() => channel.readyState === "open", o.connectMs))) return { ok: false, error: `ICE: ${pc.iceConnectionState}` };
    const before = await pathStats(pc);
    const started = performance.now();
    const perMs = (o.rateKbps * 1000) / 8 / o.messageBytes / 1000;
    let sent = 0;
    while (performance.now() - started < o.durationMs) {
      const due = Math.floor((performance.now() - started) * perMs);
      // a full send buffer is the path's limit (it shows as a lower bitrate), not loss: wait for it
      while (sent < due && channel.bufferedAmount < 64 * 1024) {
        const message = new ArrayBuffer(o.messageBytes);
        const view = new DataView(message);
        view.setUint32(0, sent);
        view.setFloat64(4, performance.now());
        channel.send(message);
        sent += 1;
      }
      await sleep(20);
    }
    await waitFor(() => received >= sent, o.drainMs);
    const elapsedS = (performance.now() - started) / 1000;
    const after = await pathStats(pc);
    const bytes = (after.pair?.bytesReceived || 0) - (before.pair?.bytesReceived || 0);
    const rttPair = after.pair && after.pair.currentRoundTripTime !== undefined ? after.pair.currentRoundTripTime * 1000 : null;
    rtts.sort((a, b) => a - b);
    const rttEcho = rtts.length ? rtts[Math.floor(rtts.length / 2)] : null;
    const sentStat = after.channel?.messagesSent ?? sent;
    const receivedStat = after.channel?.messagesReceived ?? received;
    return {
      ok: true,
      sent: sentStat,
      received: receivedStat,
      lossPct: sentStat ? (100 * Math.max(0, sentStat - receivedStat)) / sentStat : 100,
      rttMs: rttPair ?? rttEcho,
      rttEchoMs: rttEcho,
      kbps: (bytes * 8) / 1000 / elapsedS,
    };
  } finally {
    pc.close();
  }
}
