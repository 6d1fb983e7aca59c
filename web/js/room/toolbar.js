// The page's own controls (microphone, camera, hand, screen, audio only, leave) and the room bar's badges,
// drawn from the room state. Buttons keep their ids; labels and aria-pressed follow the state.
import { h } from "../dom.js";
import { t } from "../i18n.js";
import { icon } from "../icons.js";
import { elapsedSeconds, formatElapsed, handPosition, handQueue, participant } from "./state.js";

function setButton(b, label, pressed) {
  if (b.textContent !== label) b.textContent = label;
  b.setAttribute("aria-label", label);
  b.setAttribute("aria-pressed", String(pressed));
}

/** actions: {mic, cam, hand, screen, audioOnly, leave} click handlers. */
export function createToolbar(actions) {
  const btn = (id, label, onclick) => h(`button.tool#${id}`, { type: "button", "aria-label": label, onclick }, label);
  const mic = btn("btn-mic", t("room.mic_on"), actions.mic);
  const cam = btn("btn-cam", t("room.cam_off"), actions.cam);
  const hand = btn("btn-hand", t("room.raise_hand"), actions.hand);
  const screen = btn("btn-screen", t("room.share_screen"), actions.screen);
  const audioOnly = btn("btn-audio-only", t("room.audio_only"), actions.audioOnly);
  const leave = h(
    "button.tool.danger#btn-leave",
    { type: "button", "aria-label": t("room.leave"), onclick: actions.leave },
    t("room.leave"),
  );

  /** env: {hasCamera, canCaptureScreen} what this browser can do. */
  function update(state, env) {
    const me = participant(state, state.me);
    setButton(mic, state.micOn ? t("room.mic_off") : t("room.mic_on"), state.micOn);
    mic.classList.toggle("off", !state.micOn);
    mic.dataset.state = state.micOn ? "on" : "off";
    setButton(cam, state.camOn ? t("room.cam_off") : t("room.cam_on"), state.camOn);
    cam.classList.toggle("off", !state.camOn);
    cam.disabled = !env.hasCamera;
    const pos = state.handUp ? handPosition(state, state.me) : null;
    setButton(hand, state.handUp ? t("room.lower_hand") : t("room.raise_hand"), state.handUp);
    hand.dataset.position = pos ? String(pos) : "";
    hand.title = pos ? t("room.hand_queue_pos", { n: pos }) : "";
    hand.hidden = !!(me && me.is_chair_unit && state.canModerate);
    setButton(screen, state.screenOn ? t("room.stop_share") : t("room.share_screen"), state.screenOn);
    screen.hidden = !(me && me.may_share_screen) || !env.canCaptureScreen;
    setButton(audioOnly, t("room.audio_only"), state.audioOnly);
  }

  return { buttons: [mic, cam, hand, screen, audioOnly, leave], update };
}

/** The room bar's right side: elapsed time, recording, lock, the raised hands (to the chair: a click shows the
 * queue, far below the videos on a phone), connection quality (the last is driven by room.js). */
export function createBadges(onHands = () => {}) {
  const clock = h("time.elapsed", { "data-testid": "elapsed", "aria-label": t("room.elapsed"), title: t("room.elapsed") }, "--:--");
  const rec = h("span.rec", { "data-testid": "recording", hidden: true, title: t("room.recording") }, "● ", t("room.recording"));
  const lock = h("span.lockbadge", { hidden: true }, icon("lock", 14), " ", t("room.locked"));
  const conn = h("span.conn", { "data-testid": "connection", "data-quality": "unknown", title: t("room.quality") }, t("room.connecting"));
  const hands = h("button.hands-badge", { type: "button", "data-testid": "hands-badge", hidden: true, onclick: onHands });

  function update(state) {
    rec.hidden = !state.recording;
    lock.hidden = !state.locked;
    const n = state.canModerate ? handQueue(state).length : 0;
    const label = t("room.hands_badge", { n });
    if (hands.getAttribute("aria-label") !== label) {
      hands.setAttribute("aria-label", label);
      hands.title = label;
      hands.replaceChildren(icon("hand", 14), ` ${n}`);
    }
    hands.hidden = n === 0;
  }
  /** Called every second: the time since the meeting started, by this machine's clock. */
  function tick(state, nowMs) {
    const s = elapsedSeconds(state.startedAt, nowMs);
    const text = formatElapsed(s);
    if (clock.textContent !== text) clock.textContent = text;
    clock.hidden = s === null;
    clock.setAttribute("aria-label", `${t("room.elapsed")}: ${text}`);
  }
  return { els: [clock, rec, lock, hands, conn], conn, update, tick };
}
