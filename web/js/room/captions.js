// Live captions in the room (issue 21): the "Phụ đề" toggle of the toolbar and the caption band above the
// toolbar. The lines come from the room state (state.js: `caption` messages, at most two, each with its unit's
// name); the band fades out after a few seconds without a caption. Two text lines at most: one caption may
// take both, two take one each; a long text shows its end (the latest words), the unit's name stays in front.
// The band sits in the toolbar's own row, so on a phone it stays below the videos and never covers a face.
import { h, mount } from "../dom.js";
import { t } from "../i18n.js";

export const CAPTION_IDLE_MS = 6000; // no caption for this long: the band fades out
const FADE_MS = 600; // the fade itself (the CSS transition below)
const STYLE_ID = "caption-style";
const CSS = `
.room-tools { flex-wrap: wrap; }
.caption-band { order: -1; flex: 0 0 100%; box-sizing: border-box; margin: 0 0 .15rem;
  padding: .3rem .7rem; border-radius: 4px; background: rgba(0, 0, 0, .78); color: #fff; font-size: 1.05rem;
  line-height: 1.4; transition: opacity ${FADE_MS}ms ease-out; }
.caption-band[hidden] { display: none; }
.caption-band.fading { opacity: 0; }
.caption-line { display: flex; gap: .4em; margin: 0; }
.caption-unit { flex: none; max-width: 45%; overflow: hidden; white-space: nowrap; text-overflow: ellipsis;
  font-weight: 700; color: #ffd36b; }
.caption-text { flex: 1; min-width: 0; max-height: 1.4em; overflow: hidden; display: flex; flex-direction: column;
  justify-content: flex-end; }
.caption-line:only-child .caption-text { max-height: 2.8em; }
@media (max-width: 700px) { .caption-band { font-size: .95rem; padding: .25rem .5rem; } }
`;

function ensureStyle(doc = document) {
  if (doc.getElementById(STYLE_ID)) return;
  const style = doc.createElement("style");
  style.id = STYLE_ID;
  style.textContent = CSS;
  doc.head.append(style);
}

/** actions: {toggle} the button's click, {idle} called once the band has faded out (the lines may go). */
export function createCaptions(actions) {
  ensureStyle();
  const button = h(
    "button.tool#btn-captions",
    { type: "button", "aria-label": t("room.captions"), title: t("room.captions_hint"), "aria-pressed": "false", onclick: actions.toggle },
    t("room.captions"),
  );
  const band = h("div.caption-band", {
    "data-testid": "caption-band",
    role: "log",
    "aria-live": "polite",
    "aria-label": t("room.captions_band"),
    hidden: true,
  });
  let shown = null;
  let timer = null;

  function fadeLater() {
    clearTimeout(timer);
    band.classList.remove("fading");
    timer = setTimeout(() => {
      band.classList.add("fading");
      timer = setTimeout(actions.idle, FADE_MS);
    }, CAPTION_IDLE_MS);
  }

  function update(state) {
    button.setAttribute("aria-pressed", String(state.captionsOn));
    if (state.captions === shown && band.hidden === !(state.captionsOn && shown.length)) return;
    shown = state.captions;
    mount(
      band,
      shown.map((line) =>
        h(
          "p.caption-line",
          { dataset: { unit: line.unit, final: String(line.final) }, title: line.username },
          h("span.caption-unit", {}, `${line.unitName}:`),
          h("span.caption-text", {}, line.text),
        ),
      ),
    );
    band.hidden = !(state.captionsOn && shown.length);
    if (band.hidden) clearTimeout(timer);
    else fadeLater();
  }

  return { button, band, update, close: () => clearTimeout(timer) };
}
