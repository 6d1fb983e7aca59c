// Link quality in words a user reads ("Tốt / Trung bình / Kém") with the figures behind them on hover: the
// server's measure of each connection point (signaling `link_quality`, every 2 s: docs/signaling.md) on the
// room's tiles and the page's own line, and the pre-join check's verdict on the media path.
import { h } from "../dom.js";
import { lang, t } from "../i18n.js";
import { STRINGS } from "../strings.js";
import { videoPaused, videoReduced } from "./state.js";

const VI = {
  "link.own": "Đường truyền của điểm cầu (máy chủ đo)",
  "link.of": "Đường truyền của {name}",
  "link.rtt": "khứ hồi {ms} ms",
  "link.loss_up": "mất gói chiều gửi {pct}",
  "link.loss_down": "mất gói chiều nhận {pct}",
  "link.recv": "nhận {kbps} kb/s",
  "link.remb": "máy nhận ước lượng {kbps} kb/s",
  "link.none": "chưa đo được",
  "link.paused": "Tạm dừng video để tiết kiệm băng thông",
  "link.reduced": "Hình chất lượng thấp để tiết kiệm băng thông",
};
const EN = {
  "link.own": "Your connection point's link (measured by the server)",
  "link.of": "Link of {name}",
  "link.rtt": "round trip {ms} ms",
  "link.loss_up": "sending loss {pct}",
  "link.loss_down": "receiving loss {pct}",
  "link.recv": "receiving {kbps} kb/s",
  "link.remb": "receiver's estimate {kbps} kb/s",
  "link.none": "not measured yet",
  "link.paused": "Video paused to save bandwidth",
  "link.reduced": "Lower-quality video to save bandwidth",
};
for (const [table, extra] of [
  [STRINGS.vi, VI],
  [STRINGS.en, EN],
]) {
  for (const [key, text] of Object.entries(extra)) if (!(key in table)) table[key] = text;
}

const STYLE_ID = "link-quality-style";
const CSS = `
.flag.link { padding: 0 .35rem; border-radius: 3px; color: #fff; white-space: nowrap; }
.flag.link[data-quality=good], .own-link[data-quality=good] .q { background: #1e6a35; }
.flag.link[data-quality=fair], .own-link[data-quality=fair] .q { background: #8a5a00; }
.flag.link[data-quality=poor], .own-link[data-quality=poor] .q { background: #8b1f19; }
.flag.link[data-quality=unknown], .own-link[data-quality=unknown] .q { background: #4a5560; }
.own-link { font-size: .85rem; margin: 0 0 .4rem; }
.own-link .q { color: #fff; padding: 0 .4rem; border-radius: 3px; margin-left: .3rem; }
.flag.paused { padding: 0 .35rem; border-radius: 3px; color: #fff; background: #4a5560; }
.video-paused video { opacity: .35; }
`;

/** The indicator's colours, once per page (the room's stylesheet belongs to the page layout). */
export function ensureLinkStyle(doc = document) {
  if (doc.getElementById(STYLE_ID)) return;
  const style = doc.createElement("style");
  style.id = STYLE_ID;
  style.textContent = CSS;
  doc.head.append(style);
}

/** 5.1 → "5,1 %" in Vietnamese (decimal comma), "5.1 %" in English. */
export function percent(value) {
  const text = Number(value).toFixed(1);
  return `${lang() === "vi" ? text.replace(".", ",") : text} %`;
}

/** The word for a rating: Tốt / Trung bình / Kém / Đang đo. */
export function ratingWord(rating) {
  return t(`room.q_${["good", "fair", "poor"].includes(rating) ? rating : "unknown"}`);
}

/** The figures of one `link_quality` line: "khứ hồi 180 ms · mất gói chiều gửi 5,1 % · … · nhận 96 kb/s". */
export function linkFigures(line) {
  const parts = [];
  if (line.rtt_ms !== null && line.rtt_ms !== undefined) parts.push(t("link.rtt", { ms: line.rtt_ms }));
  if (line.loss_up_pct !== null && line.loss_up_pct !== undefined) parts.push(t("link.loss_up", { pct: percent(line.loss_up_pct) }));
  if (line.loss_down_pct !== null && line.loss_down_pct !== undefined)
    parts.push(t("link.loss_down", { pct: percent(line.loss_down_pct) }));
  if (line.recv_kbps !== null && line.recv_kbps !== undefined) parts.push(t("link.recv", { kbps: line.recv_kbps }));
  if (line.remb_kbps !== null && line.remb_kbps !== undefined) parts.push(t("link.remb", { kbps: line.remb_kbps }));
  return parts.length ? parts.join(" · ") : t("link.none");
}

/** A tile's flag: the word, coloured; the figures on hover and for screen readers. */
export function linkFlag(line, unitName) {
  const label = `${t("link.of", { name: unitName })}: ${ratingWord(line.rating)} — ${linkFigures(line)}`;
  return h(
    "span.flag.link",
    { "data-quality": line.rating, "data-testid": "link-flag", title: label, "aria-label": label },
    ratingWord(line.rating),
  );
}

/** A tile's flag while the server holds `pid`'s video back from this page to spare the page's link, or sends
 * its camera as the thumbnail (the lower layer); or null. */
export function pausedFlag(state, pid) {
  if (videoPaused(state, pid)) {
    const label = t("link.paused");
    return h("span.flag.paused", { "data-testid": "video-paused", title: label, "aria-label": label }, label);
  }
  if (videoReduced(state, pid)) {
    const label = t("link.reduced");
    return h("span.flag.paused", { "data-testid": "video-reduced", title: label, "aria-label": label }, label);
  }
  return null;
}

/** Fill the page's own line (its connection point as the server measures it); hidden until measured. */
export function showOwnLink(el, line) {
  el.hidden = !line;
  if (!line) return;
  el.dataset.quality = line.rating;
  const label = `${t("link.own")}: ${ratingWord(line.rating)} — ${linkFigures(line)}`;
  el.title = label;
  el.setAttribute("aria-label", label);
  el.replaceChildren(t("link.own"), h("span.q", {}, ratingWord(line.rating)));
}
