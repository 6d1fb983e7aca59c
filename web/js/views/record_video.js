// The composed video on the record page (issue 20): once GET .../video/status says the MP4 exists, the page's
// player plays it (H.264 + AAC) with the Vietnamese subtitles track, the transcript beside it as for the audio
// (click a line to seek, the playing line highlighted, ?t= from a search hit opens it at that second). While it
// is being made its progress shows (like the transcript's) and the mixed audio plays meanwhile. Where a camera
// or screen that should have been shown had no frames (a file cut by a killed server or a full disk, frames
// lost in transit) the times are listed under the player; each one seeks there.
import { api } from "../api.js";
import { clock, h, mount } from "../dom.js";
import { t } from "../i18n.js";
import { STRINGS } from "../strings.js";

const POLL_MS = 3000;

Object.assign(STRINGS.vi, {
  "record.video_player": "Video cuộc họp",
  "record.video_making": "Video đang được dựng: {pct}%. Trong lúc chờ, bản ghi âm được phát.",
  "record.video_queued": "Video đang chờ dựng. Trong lúc chờ, bản ghi âm được phát.",
  "record.video_failed": "Không dựng được video: {msg}",
  "record.video_cannot_play": "Trình duyệt này không phát được video H.264: hãy tải tệp MP4 về để xem.",
  "record.video_download_mp4": "Tải video (.mp4)",
  "record.video_gaps": "Đoạn không có hình",
  "record.video_gap": "{from}–{to} · {unit}: {why}",
  "record.video_gap_aria": "Đến đoạn không có hình lúc {from}",
  "record.video_gap.truncated": "tệp ghi hình bị cắt hoặc hỏng",
  "record.video_gap.video_loss": "mất hình trên đường truyền",
  "record.video_gap.interrupted": "máy chủ dừng đột ngột, cuộc họp bị gián đoạn",
  "record.video_gap.video_stopped": "ghi hình dừng do hết dung lượng lưu trữ",
  "record.video_gap_all": "mọi điểm cầu",
  "record.subtitles_label": "Tiếng Việt",
});
Object.assign(STRINGS.en, {
  "record.video_player": "Meeting video",
  "record.video_making": "The video is being made: {pct}%. Meanwhile the audio recording plays.",
  "record.video_queued": "The video is waiting to be made. Meanwhile the audio recording plays.",
  "record.video_failed": "The video could not be made: {msg}",
  "record.video_cannot_play": "This browser cannot play H.264 video: download the MP4 to watch it.",
  "record.video_download_mp4": "Download the video (.mp4)",
  "record.video_gaps": "Stretches without picture",
  "record.video_gap": "{from}–{to} · {unit}: {why}",
  "record.video_gap_aria": "Go to the stretch without picture at {from}",
  "record.video_gap.truncated": "the video file is cut or damaged",
  "record.video_gap.video_loss": "picture lost in transit",
  "record.video_gap.interrupted": "the server stopped abruptly, the meeting was interrupted",
  "record.video_gap.video_stopped": "video recording stopped: storage full",
  "record.video_gap_all": "every connection point",
  "record.subtitles_label": "Vietnamese",
});

/** `player` is the page's media element (a <video>); `seek(seconds, play)` the page's; `unitName(code)`. */
export function composedVideo({ meetingId, player, seek, unitName }) {
  const box = h("div.video-state", { "data-testid": "video-state" });
  const note = h("p.small.muted", { role: "status", "data-testid": "video-note" });
  let timer = null;
  let unitOfTrack = null;

  function playAudio() {
    if (player.dataset.source === "audio") return;
    player.dataset.source = "audio";
    player.src = `/api/meetings/${meetingId}/recording`;
  }

  // The MP4 replaces the audio (or an earlier version of itself, remade after a transcript correction) where
  // it was: same second, still playing if it was.
  function playVideo(version) {
    if (player.dataset.source === "video" && player.dataset.version === version) return;
    const at = player.currentTime || 0;
    const playing = player.src && !player.paused;
    player.dataset.source = "video";
    player.dataset.version = version;
    for (const old of player.querySelectorAll("track")) old.remove();
    player.append(h("track", { kind: "subtitles", srclang: "vi", label: t("record.subtitles_label"), default: true,
      src: `/api/meetings/${meetingId}/subtitles.vtt?v=${version}` }));
    player.src = `/api/meetings/${meetingId}/video?v=${version}`;
    player.addEventListener("loadedmetadata", () => {
      if (at > 0) player.currentTime = at;
      if (playing) player.play().catch(() => {});
    }, { once: true });
    player.load();
  }

  player.addEventListener("error", () => {
    if (player.dataset.source !== "video") return;
    // said honestly: the file exists but this browser has no H.264 decoder (or the file did not load)
    note.textContent = t("record.video_cannot_play");
    note.dataset.state = "error";
  });

  async function trackUnits() {
    if (unitOfTrack) return unitOfTrack;
    try {
      const data = await api.get(`/api/meetings/${meetingId}/recording/tracks`);
      unitOfTrack = new Map((data.tracks || []).map((x) => [x.track_key, x.unit_code]));
    } catch {
      unitOfTrack = new Map();
    }
    return unitOfTrack;
  }

  async function gapList(gaps) {
    if (!gaps.length) return null;
    const units = await trackUnits();
    return h("div.video-gaps", { "data-testid": "video-gaps" },
      h("h3.small", { id: "vgaps-h" }, t("record.video_gaps")),
      h("ul", { "aria-labelledby": "vgaps-h" }, gaps.map((g) => h("li", { "data-start": g.start, "data-reason": g.reason },
        h("button.time.linklike", { type: "button", "aria-label": t("record.video_gap_aria", { from: clock(g.start) }), onclick: () => seek(g.start, true) },
          t("record.video_gap", { from: clock(g.start), to: clock(g.end), unit: g.track_key ? unitName(units.get(g.track_key)) : t("record.video_gap_all"), why: t(`record.video_gap.${g.reason}`) }))))));
  }

  async function load() {
    clearTimeout(timer);
    let state;
    try {
      state = await api.get(`/api/meetings/${meetingId}/video/status`);
    } catch {
      playAudio();
      return;
    }
    box.dataset.status = state.status;
    const download = state.available
      ? h("a.small", { href: `/api/meetings/${meetingId}/video`, download: `cuoc-hop-${meetingId}.mp4`, "data-testid": "video-download" }, t("record.video_download_mp4"))
      : null;
    if (state.available) {
      playVideo(state.version);
      if (note.dataset.state !== "error") note.textContent = "";
    } else {
      playAudio();
      const pct = Math.round((state.progress || 0) * 100);
      note.textContent = state.status === "running" ? t("record.video_making", { pct })
        : state.status === "queued" ? t("record.video_queued")
          : state.status === "failed" ? t("record.video_failed", { msg: state.error }) : "";
    }
    mount(box, note, download, await gapList(state.picture_gaps || []));
    // being made (or remade after a transcript correction): look again until it is done
    if (["queued", "running"].includes(state.status)) timer = setTimeout(load, POLL_MS);
  }

  return { box, load, stop: () => clearTimeout(timer) };
}
