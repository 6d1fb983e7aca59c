// The recording's downloads on the record page: each camera or screen-share track (unit, kind, start on the
// meeting clock, length, download as IVF) from GET /api/meetings/{id}/recording/tracks, and the subtitles
// (.vtt) once the transcript exists.
import { api } from "../api.js";
import { clock, h, mount } from "../dom.js";
import { t } from "../i18n.js";
import "./minutes_strings.js";

/** A box under the player; `refresh(transcript)` redraws it (the transcript as GET .../transcript gives it).
 * `mayDownload(track)`: the server lets the chairing unit's managers take any track, a unit only its own. */
export function recordingFiles({ meetingId, unitName, mayDownload }) {
  const box = h("div.recording-files", { "data-testid": "recording-files" });
  let tracks = null;
  let status = null;
  let transcript = null;

  function trackItem(track) {
    const who = unitName(track.unit_code);
    const kind = t(`record.video_kind.${track.kind}`);
    const length = track.end_s != null ? clock(Math.max(0, track.end_s - track.start_s)) : "—";
    return h("li", { "data-track-key": track.track_key, "data-kind": track.kind },
      h("span.strong", {}, who), " · ", kind, " ",
      h("span.small.muted", {}, t("record.video_when", { at: clock(track.start_s), d: length })), " ",
      mayDownload(track) ? h("a.small", { href: `/api/meetings/${meetingId}/recording/tracks/${encodeURIComponent(track.track_key)}`, download: "",
        "aria-label": t("record.video_download_aria", { kind, unit: who, at: clock(track.start_s) }) }, t("record.video_download")) : null);
  }

  function draw() {
    const videos = (tracks || []).filter((x) => x.kind !== "audio");
    const hasSubtitles = transcript && transcript.status === "done" && (transcript.segments || []).length > 0;
    mount(box,
      videos.length ? h("h3.small", { id: "video-h" }, t("record.video_tracks")) : null,
      videos.length ? h("ul.video-tracks", { "aria-labelledby": "video-h" }, videos.map(trackItem)) : null,
      hasSubtitles ? h("p.small", {}, h("a", { href: `/api/meetings/${meetingId}/subtitles.vtt`, download: `cuoc-hop-${meetingId}.vtt`,
        "data-testid": "subtitles-link" }, t("record.subtitles_download"))) : null);
  }

  async function loadTracks() {
    try {
      const data = await api.get(`/api/meetings/${meetingId}/recording/tracks`);
      tracks = data.tracks || [];
      status = data.status;
    } catch {
      tracks = []; // no recording to list (or not allowed): the box stays empty
    }
    draw();
  }

  return {
    box,
    load: loadTracks,
    refresh(data) {
      transcript = data;
      draw();
      // a recording still being written when the page opened: its tracks are listed once it is finished
      if (status === "recording") loadTracks();
    },
  };
}
