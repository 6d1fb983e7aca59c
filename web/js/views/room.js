// The meeting room: wires the signaling socket, the one peer connection to the SFU, the room state
// (room/state.js: every server message goes through `apply`) and the views that draw it (tiles, toolbar,
// panels). What a state change asks of the browser (a microphone track, a toast, the end screen) is done here.
import { api } from "../api.js";
import { h, mount } from "../dom.js";
import { t } from "../i18n.js";
import { loadChoice, openLocalMedia, saveChoice } from "../media/devices.js";
import { levelBar, watchLevel } from "../media/levels.js";
import { createCaptions } from "../room/captions.js";
import { createPanels } from "../room/panels.js";
import { MediaSession } from "../room/peer.js";
import { CLOSE, Signaling } from "../room/signaling.js";
import { apply, initialState } from "../room/state.js";
import { QualityMeter } from "../room/stats.js";
import { TileView } from "../room/tiles.js";
import { WallView } from "../room/wall.js";
import { createBadges, createToolbar } from "../room/toolbar.js";

const STATS_INTERVAL_MS = 2000;
const CLOCK_INTERVAL_MS = 1000;
const TOAST_MS = 6000;
// server messages that change the room state (the others: `offer` goes to the peer, `pong` to the socket)
const STATE_MESSAGES = [
  "participant_joined",
  "participant_left",
  "participant_updated",
  "floor",
  "floor_control",
  "active_speaker",
  "roll_call",
  "roll_call_entry",
  "chat",
  "recording",
  "locked",
  "muted_by_chair",
  "removed",
  "error",
  "notification",
  "meeting_ended",
  "link_quality",
  "wall",
  "caption",
  "agenda",
];
const FINAL_CLOSES = [CLOSE.FORBIDDEN, CLOSE.NOT_LIVE, CLOSE.NOT_FOUND, CLOSE.UNAUTHENTICATED, CLOSE.BAD_MESSAGE, CLOSE.TOO_MANY];

export async function render({ main, params, user }) {
  const meetingId = Number(params[0]);
  const meeting = await api.get(`/api/meetings/${meetingId}`);
  const choice = loadChoice();
  let state = initialState({ role: user.role, camOn: choice.publishVideo, audioOnly: choice.audioOnly, startedAt: meeting.started_at });
  let local = null;
  let session = null;
  let meter = null;
  let timers = [];
  let stopLevel = () => {};
  const micTrack = () => (local && local.getAudioTracks()[0]) || null;
  const camTrack = () => (local && local.getVideoTracks()[0]) || null;

  // ---- layout ------------------------------------------------------------------------------------------
  const sig = new Signaling(meetingId);
  const send = (msg) => sig.send(msg);
  const agendaNow = h("div.small.agenda-now", { "data-testid": "agenda-now", "aria-live": "polite", hidden: true });
  const toast = h("div.toast", { role: "alert", "aria-live": "assertive", hidden: true, "data-testid": "room-error" });
  const stage = h("div.stage", { hidden: true, "aria-label": t("room.screen_stage") });
  const grid = h("div.video-grid", { "data-testid": "video-grid", "aria-label": t("room.grid") });
  const ownVideo = h("video.own", { autoplay: true, muted: true, playsInline: true, "aria-label": t("room.own_preview") });
  const ownBar = levelBar(t("check.mic_level"));
  const tiles = new TileView(grid, stage);
  const wall = new WallView(send); // the chairing unit only (shown once it joins)
  const badges = createBadges();
  const connBadge = badges.conn;
  const toolbar = createToolbar({
    mic: toggleMic,
    cam: toggleCam,
    hand: toggleHand,
    screen: toggleScreen,
    audioOnly: toggleAudioOnly,
    leave,
  });
  const captions = createCaptions({ toggle: toggleCaptions, idle: () => dispatch({ type: "ui:captions_idle" }) });
  const chairActions = {
    muteAll: () => send({ type: "mute_all" }),
    floorControl: (enabled) => send({ type: "floor_control", enabled }),
    giveFloor: (pid) => send({ type: "give_floor", participant_id: pid }),
    lock: (locked) => send({ type: "lock", locked }),
    end: () => {
      if (confirm(t("meeting.end_confirm"))) send({ type: "end_meeting" });
    },
    mute: (pid) => send({ type: "mute_participant", participant_id: pid }),
    remove: (pid) => send({ type: "remove_participant", participant_id: pid }),
    readmit: (pid) => send({ type: "readmit_participant", participant_id: pid }),
    allowScreen: (pid, allowed) => send({ type: "allow_screen_share", participant_id: pid, allowed }),
    agendaItem: (id) => send({ type: "agenda_item", item_id: id }),
  };
  const panels = createPanels({
    tab: (tab) => dispatch({ type: "ui:tab", tab }),
    sendChat: (text) => send({ type: "chat", text }),
    chair: chairActions,
    roll: {
      set: (unit, status, reason) => {
        send({ type: "roll_call", unit, status, reason });
        if (status === "absent") dispatch({ type: "ui:roll_saved", unit, status, reason });
      },
      draft: (unit, status, reason) => dispatch({ type: "ui:roll_draft", unit, status, reason }),
      discard: (unit) => dispatch({ type: "ui:roll_discard", unit }),
    },
  });

  mount(
    main,
    h(
      "div.room",
      { "data-testid": "room" },
      h(
        "header.room-bar",
        {},
        h("a.btn.ghost.small", { href: "#/meetings", "aria-label": t("common.back") }, "←"),
        h("div.room-title", {}, h("h1", {}, meeting.title), h("div.small.muted", {}, meeting.chair_unit_name), agendaNow),
        h("div.room-badges", {}, badges.els),
      ),
      h(
        "div.room-body",
        {},
        h("section.room-main", { "aria-label": t("room.grid") }, stage, wall.el, grid),
        h("aside.room-side", { "aria-label": t("room.side") }, panels.el),
      ),
      h(
        "footer.room-tools",
        { role: "toolbar", "aria-label": t("room.toolbar") },
        h("div.own-box", {}, ownVideo, ownBar),
        captions.band,
        toolbar.buttons.slice(0, -1),
        captions.button,
        toolbar.buttons.slice(-1),
      ),
      toast,
    ),
  );

  // ---- state → views and browser --------------------------------------------------------------------------
  let toastTimer = null;
  function showToast(text, kind) {
    toast.textContent = text;
    toast.className = `toast ${kind}`;
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      toast.hidden = true;
    }, TOAST_MS);
  }
  const notify = (text, kind = "error") => dispatch({ type: "ui:notice", kind, text });

  function draw() {
    badges.update(state);
    toolbar.update(state, { hasCamera: !!camTrack(), canCaptureScreen: !!navigator.mediaDevices.getDisplayMedia });
    tiles.update(state);
    panels.update(state);
    captions.update(state);
    const items = state.agenda || [];
    const index = items.findIndex((a) => a.id === state.agendaCurrent);
    const now = index < 0 ? "" : t("room.agenda_now", { n: index + 1, title: items[index].title });
    if (agendaNow.textContent !== now) agendaNow.textContent = now;
    agendaNow.hidden = !now;
  }

  function dispatch(msg) {
    const prev = state;
    state = apply(state, msg);
    if (state === prev) return;
    if (micTrack()) micTrack().enabled = state.micOn;
    if (prev.screenOn && !state.screenOn && msg.type !== "ui:screen") stopScreenTrack(); // permission withdrawn
    if (state.notice && state.notice !== prev.notice) {
      const n = state.notice;
      showToast(n.text !== undefined ? n.text : t(n.key, n.params || {}), n.kind);
    }
    // given the floor: open the microphone and tell the server (the server unmutes on our word)
    if (msg.type === "floor" && state.micOn && !prev.micOn) send({ type: "mute", audio: false });
    draw();
    if (state.wall && state.wall !== prev.wall) wall.show(state.wall);
    if (state.ended && !prev.ended) ended(state.ended.text || t(state.ended.key, state.ended.params || {}));
  }

  // ---- local media ---------------------------------------------------------------------------------------
  try {
    local = await openLocalMedia(choice);
  } catch (err) {
    showToast(t("check.media_failed", { error: err.message || err.name }), "error");
    local = new MediaStream();
  }
  if (micTrack()) micTrack().enabled = false; // microphones stay closed until unmuted / given the floor
  ownVideo.srcObject = local;
  stopLevel = watchLevel(local, (level) => ownBar.update(state.micOn ? level : 0));

  // ---- signaling -----------------------------------------------------------------------------------------
  function startMedia() {
    if (session) session.close();
    session = new MediaSession(send, { mic: micTrack(), camera: state.camOn ? camTrack() : null }, state.iceServers, state.me);
    session.addEventListener("remote", (e) => {
      tiles.bind(state, e.detail);
      wall.bind(e.detail);
    });
    session.addEventListener("state", (e) => {
      connBadge.dataset.pc = e.detail;
      if (e.detail === "failed") notify(t("room.media_failed"));
    });
    meter = new QualityMeter(session.pc);
    // the chairing unit sees the wall of connection points; every other unit publishes its thumbnail to it
    const me = state.participants.find((p) => p.id === state.me);
    const chairing = !!(me && me.is_chair_unit);
    send({
      type: "join",
      audio_only: state.audioOnly,
      publish_video: choice.publishVideo,
      publish_thumbnail: choice.publishVideo && !chairing,
    });
    if (chairing && !state.audioOnly) wall.open();
  }
  // tests and support read the live objects here
  window.__giaoban = {
    get session() {
      return session;
    },
    get state() {
      return state;
    },
    sig,
  };

  sig.addEventListener("offer", (e) => {
    dispatch(e.detail);
    if (session) session.handleOffer(e.detail);
  });
  for (const type of STATE_MESSAGES) sig.addEventListener(type, (e) => dispatch(e.detail));
  // whether a wall of the chairing unit shows our thumbnail (docs/signaling.md): encode it only then
  sig.addEventListener("thumbnail", (e) => session && session.setThumbnailSending(e.detail.send));
  sig.addEventListener("reconnecting", (e) => {
    connBadge.textContent = t("room.reconnecting", { n: e.detail.attempt });
    connBadge.dataset.quality = "poor";
    connBadge.dataset.state = "reconnecting";
  });
  sig.addEventListener("reconnected", (e) => {
    connBadge.dataset.state = "connected";
    showToast(t("room.reconnected"), "info");
    tiles.clear();
    dispatch(e.detail); // a share in progress stops with the old connection (welcome: screenOn false)
    if (state.captionsOn) send({ type: "captions", enabled: true }); // a new socket: ask again
    startMedia();
  });
  sig.addEventListener("close", (e) => {
    const { code, error } = e.detail;
    // removed now, or refused on joining again (error `removed`: the server says it stays out until readmitted)
    if (code === CLOSE.REMOVED) ended(error && error.code === "removed" ? error.message : t("room.removed"));
    else if (code === CLOSE.REPLACED) ended(t("room.replaced"));
    else if (code === CLOSE.ENDED) ended(t("room.ended"));
    else if (FINAL_CLOSES.includes(code)) ended((error && error.message) || t("room.closed", { code }));
  });
  sig.addEventListener("failed", (e) => ended(e.detail.message || t("room.closed", { code: e.detail.code })));

  // ---- own controls --------------------------------------------------------------------------------------
  function toggleMic() {
    const on = !state.micOn;
    dispatch({ type: "ui:mic", on });
    if (state.micOn === on) send({ type: "mute", audio: !on });
  }
  function toggleCam() {
    dispatch({ type: "ui:cam", on: !state.camOn });
    if (camTrack()) camTrack().enabled = state.camOn;
    send({ type: "mute", video: !state.camOn });
  }
  function toggleHand() {
    dispatch({ type: "ui:hand", raised: !state.handUp });
    send({ type: "raise_hand", raised: state.handUp });
  }
  function toggleAudioOnly() {
    dispatch({ type: "ui:audio_only", enabled: !state.audioOnly });
    saveChoice({ ...choice, audioOnly: state.audioOnly });
    send({ type: "audio_only", enabled: state.audioOnly });
  }
  async function toggleScreen() {
    if (state.screenOn) {
      await stopScreenTrack();
      dispatch({ type: "ui:screen", on: false });
      send({ type: "screen_share", on: false });
      return;
    }
    let display;
    try {
      display = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 5 }, audio: false });
    } catch (err) {
      notify(t("room.screen_failed", { error: err.message || err.name }));
      return;
    }
    const track = display.getVideoTracks()[0];
    track.addEventListener("ended", () => {
      if (!state.screenOn || !session || session.local.screen !== track) return;
      stopScreenTrack();
      dispatch({ type: "ui:screen", on: false });
      send({ type: "screen_share", on: false });
    });
    await session.setLocal("screen", track);
    dispatch({ type: "ui:screen", on: true });
    send({ type: "screen_share", on: true });
  }
  async function stopScreenTrack() {
    const track = session && session.local.screen;
    if (track) track.stop();
    if (session) await session.setLocal("screen", null);
  }
  function toggleCaptions() {
    dispatch({ type: "ui:captions", enabled: !state.captionsOn });
    send({ type: "captions", enabled: state.captionsOn });
  }
  function leave() {
    send({ type: "leave" });
    sig.close();
    location.hash = "#/meetings";
  }

  async function updateStats() {
    if (!meter || !session) return;
    try {
      const s = await meter.sample();
      connBadge.dataset.quality = s.quality;
      connBadge.dataset.rttMs = s.rttMs === null ? "" : s.rttMs.toFixed(0);
      connBadge.dataset.lossPct = s.lossPct.toFixed(1);
      connBadge.textContent =
        s.rttMs === null
          ? t("room.connecting")
          : `${t("room.q_" + s.quality)} · ${s.rttMs.toFixed(0)} ms · ${t("room.loss")} ${s.lossPct.toFixed(1)}%`;
      connBadge.setAttribute("aria-label", `${t("room.quality")}: ${connBadge.textContent}`);
    } catch {
      // the peer connection was replaced meanwhile
    }
  }

  // ---- connect -----------------------------------------------------------------------------------------
  let isEnded = false;
  try {
    dispatch(await sig.connect());
  } catch (err) {
    ended(err.message || t("room.closed", { code: err.code }));
    return () => cleanup();
  }
  if (isEnded) return () => {};
  connBadge.dataset.state = "connected";
  startMedia();
  draw();
  badges.tick(state, Date.now());
  timers = [setInterval(updateStats, STATS_INTERVAL_MS), setInterval(() => badges.tick(state, Date.now()), CLOCK_INTERVAL_MS)];

  function ended(text) {
    if (isEnded) return;
    isEnded = true;
    state = apply(state, { type: "ui:ended", ended: { text } });
    cleanup();
    mount(
      main,
      h(
        "div.ended.card",
        { role: "alert", "data-testid": "room-ended" },
        h("h1", {}, text),
        h("p", {}, meeting.title),
        h(
          "div.actions",
          {},
          h("a.btn.primary", { href: `#/meetings/${meetingId}` }, t("record.open")),
          h("a.btn.ghost", { href: "#/meetings" }, t("nav.meetings")),
        ),
      ),
    );
  }

  function cleanup() {
    timers.forEach(clearInterval);
    clearTimeout(toastTimer);
    captions.close();
    stopLevel();
    sig.close();
    if (session && session.local.screen) session.local.screen.stop();
    if (session) session.close();
    if (local) local.getTracks().forEach((tr) => tr.stop());
  }

  return () => {
    if (!isEnded) {
      send({ type: "leave" });
      cleanup();
    }
  };
}
