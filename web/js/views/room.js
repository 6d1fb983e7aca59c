// The meeting room: wires the signaling socket, the one peer connection to the SFU, the room state
// (room/state.js: every server message goes through `apply`) and the views that draw it (tiles, toolbar,
// panels). What a state change asks of the browser (a microphone track, a toast, the end screen) is done here;
// the page's own controls (microphone, camera, hand, screen…) are room/own.js.
import { api } from "../api.js";
import { h, mount } from "../dom.js";
import { t } from "../i18n.js";
import { loadChoice, openLocalMedia } from "../media/devices.js";
import { levelBar, watchLevel } from "../media/levels.js";
import { createCaptions } from "../room/captions.js";
import { ownControls } from "../room/own.js";
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

// ---- the parts of the page -------------------------------------------------------------------------------

/** The chair's and clerk's controls, as signaling messages (docs/signaling.md). */
function chairActions(send) {
  return {
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
}

/** The roll-call's edits: sent to the server; an absence's reason stays a draft until the server confirms it. */
function rollActions(send, dispatch) {
  return {
    set: (unit, status, reason) => {
      send({ type: "roll_call", unit, status, reason });
      if (status === "absent") dispatch({ type: "ui:roll_saved", unit, status, reason });
    },
    draft: (unit, status, reason) => dispatch({ type: "ui:roll_draft", unit, status, reason }),
    discard: (unit) => dispatch({ type: "ui:roll_discard", unit }),
  };
}

/** A message over the room that goes after TOAST_MS. */
function createToast() {
  const el = h("div.toast", { role: "alert", "aria-live": "assertive", hidden: true, "data-testid": "room-error" });
  let timer = null;
  function show(text, kind) {
    el.textContent = text;
    el.className = `toast ${kind}`;
    el.hidden = false;
    clearTimeout(timer);
    timer = setTimeout(() => {
      el.hidden = true;
    }, TOAST_MS);
  }
  return { el, show, close: () => clearTimeout(timer) };
}

/** The room's frame: the bar, the videos (stage, wall, grid) beside the side panel, the toolbar. */
function roomLayout(meeting, v) {
  return h(
    "div.room",
    { "data-testid": "room" },
    h(
      "header.room-bar",
      {},
      h("a.btn.ghost.small", { href: "#/meetings", "aria-label": t("common.back") }, "←"),
      h("div.room-title", {}, h("h1", {}, meeting.title), h("div.small.muted", {}, meeting.chair_unit_name), v.agendaNow),
      h("div.room-badges", {}, v.badges.els),
    ),
    h(
      "div.room-body",
      {},
      h("section.room-main", { "aria-label": t("room.grid") }, v.stage, v.wall.el, v.grid),
      h("aside.room-side", { "aria-label": t("room.side") }, v.panels.el),
    ),
    h(
      "footer.room-tools",
      { role: "toolbar", "aria-label": t("room.toolbar") },
      h("div.own-box", {}, v.ownVideo, v.ownBar),
      v.captions.band,
      v.toolbar.buttons.slice(0, -1),
      v.captions.button,
      v.toolbar.buttons.slice(-1),
    ),
    v.toast.el,
  );
}

/** The screen left when the room is over for this page. */
function endedScreen(meeting, meetingId, text) {
  return h(
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
  );
}

/** The connection badge from one sample of the peer connection's quality (room/stats.js). */
function showQuality(badge, s) {
  badge.dataset.quality = s.quality;
  badge.dataset.rttMs = s.rttMs === null ? "" : s.rttMs.toFixed(0);
  badge.dataset.lossPct = s.lossPct.toFixed(1);
  badge.textContent =
    s.rttMs === null
      ? t("room.connecting")
      : `${t("room.q_" + s.quality)} · ${s.rttMs.toFixed(0)} ms · ${t("room.loss")} ${s.lossPct.toFixed(1)}%`;
  badge.setAttribute("aria-label", `${t("room.quality")}: ${badge.textContent}`);
}

/** The agenda item the meeting is on, under its title ("" when none). */
function agendaNowText(state) {
  const items = state.agenda || [];
  const index = items.findIndex((a) => a.id === state.agendaCurrent);
  return index < 0 ? "" : t("room.agenda_now", { n: index + 1, title: items[index].title });
}

// ---- the page ------------------------------------------------------------------------------------------

class RoomPage {
  constructor(main, meetingId, meeting, user) {
    this.main = main;
    this.meetingId = meetingId;
    this.meeting = meeting;
    this.choice = loadChoice();
    this.state = initialState({
      role: user.role,
      camOn: this.choice.publishVideo,
      audioOnly: this.choice.audioOnly,
      startedAt: meeting.started_at,
    });
    this.local = null;
    this.session = null;
    this.meter = null;
    this.timers = [];
    this.stopLevel = () => {};
    this.isEnded = false;
    this.sig = new Signaling(meetingId);
    this.send = (msg) => this.sig.send(msg);
    this.dispatch = (msg) => this._dispatch(msg);
    this.notify = (text, kind = "error") => this.dispatch({ type: "ui:notice", kind, text });
    this._buildViews();
  }

  micTrack() {
    return (this.local && this.local.getAudioTracks()[0]) || null;
  }

  camTrack() {
    return (this.local && this.local.getVideoTracks()[0]) || null;
  }

  _buildViews() {
    const own = ownControls(this);
    this.agendaNow = h("div.small.agenda-now", { "data-testid": "agenda-now", "aria-live": "polite", hidden: true });
    this.toast = createToast();
    this.stage = h("div.stage", { hidden: true, "aria-label": t("room.screen_stage") });
    this.grid = h("div.video-grid", { "data-testid": "video-grid", "aria-label": t("room.grid") });
    this.ownVideo = h("video.own", { autoplay: true, muted: true, playsInline: true, "aria-label": t("room.own_preview") });
    this.ownBar = levelBar(t("check.mic_level"));
    this.tiles = new TileView(this.grid, this.stage);
    this.wall = new WallView(this.send); // the chairing unit only (shown once it joins)
    this.badges = createBadges(() => this.panels.revealQueue());
    this.connBadge = this.badges.conn;
    this.toolbar = createToolbar(own);
    this.captions = createCaptions({ toggle: own.captions, idle: () => this.dispatch({ type: "ui:captions_idle" }) });
    this.panels = createPanels({
      tab: (tab) => this.dispatch({ type: "ui:tab", tab }),
      sendChat: (text) => this.send({ type: "chat", text }),
      chair: chairActions(this.send),
      roll: rollActions(this.send, this.dispatch),
    });
    mount(this.main, roomLayout(this.meeting, this));
  }

  /** Every view from the state (each redraws only what changed). */
  draw() {
    const { state } = this;
    this.badges.update(state);
    this.toolbar.update(state, { hasCamera: !!this.camTrack(), canCaptureScreen: !!navigator.mediaDevices.getDisplayMedia });
    this.tiles.update(state);
    this.wall.update(state);
    this.panels.update(state);
    this.captions.update(state);
    const now = agendaNowText(state);
    if (this.agendaNow.textContent !== now) this.agendaNow.textContent = now;
    this.agendaNow.hidden = !now;
  }

  /** One server message or local action through the reducer, then what the change asks of the browser. */
  _dispatch(msg) {
    const prev = this.state;
    const state = apply(prev, msg);
    this.state = state;
    if (state === prev) return;
    if (this.micTrack()) this.micTrack().enabled = state.micOn;
    if (prev.screenOn && !state.screenOn && msg.type !== "ui:screen") this.stopScreenTrack(); // permission withdrawn
    if (state.notice && state.notice !== prev.notice) {
      const n = state.notice;
      this.toast.show(n.text !== undefined ? n.text : t(n.key, n.params || {}), n.kind);
    }
    // given the floor: open the microphone and tell the server (the server unmutes on our word)
    if (msg.type === "floor" && state.micOn && !prev.micOn) this.send({ type: "mute", audio: false });
    this.draw();
    if (state.wall && state.wall !== prev.wall) this.wall.show(state.wall);
    if (state.ended && !prev.ended) this.ended(state.ended.text || t(state.ended.key, state.ended.params || {}));
  }

  async _openLocalMedia() {
    try {
      this.local = await openLocalMedia(this.choice);
    } catch (err) {
      this.toast.show(t("check.media_failed", { error: err.message || err.name }), "error");
      this.local = new MediaStream();
    }
    if (this.micTrack()) this.micTrack().enabled = false; // microphones stay closed until unmuted / given the floor
    this.ownVideo.srcObject = this.local;
    this.stopLevel = watchLevel(this.local, (level) => this.ownBar.update(this.state.micOn ? level : 0));
  }

  /** A new peer connection to the SFU, then `join` (again after a reconnect). */
  startMedia() {
    const { state } = this;
    if (this.session) this.session.close();
    const session = new MediaSession(
      this.send,
      { mic: this.micTrack(), camera: state.camOn ? this.camTrack() : null },
      state.iceServers,
      state.me,
    );
    this.session = session;
    session.addEventListener("remote", (e) => {
      this.tiles.bind(this.state, e.detail);
      this.wall.bind(e.detail);
    });
    session.addEventListener("state", (e) => {
      this.connBadge.dataset.pc = e.detail;
      if (e.detail === "failed") this.notify(t("room.media_failed"));
    });
    this.meter = new QualityMeter(session.pc);
    // the chairing unit sees the wall of connection points; every other unit publishes its thumbnail to it
    const me = state.participants.find((p) => p.id === state.me);
    const chairing = !!(me && me.is_chair_unit);
    this.send({
      type: "join",
      audio_only: state.audioOnly,
      publish_video: this.choice.publishVideo,
      publish_thumbnail: this.choice.publishVideo && !chairing,
    });
    if (chairing && !state.audioOnly) this.wall.open();
  }

  async stopScreenTrack() {
    const track = this.session && this.session.local.screen;
    if (track) track.stop();
    if (this.session) await this.session.setLocal("screen", null);
  }

  _wireSignaling() {
    const { sig } = this;
    const connBadge = this.connBadge;
    sig.addEventListener("offer", (e) => {
      this.dispatch(e.detail);
      if (this.session) this.session.handleOffer(e.detail);
    });
    for (const type of STATE_MESSAGES) sig.addEventListener(type, (e) => this.dispatch(e.detail));
    // whether a wall of the chairing unit shows our thumbnail (docs/signaling.md): encode it only then
    sig.addEventListener("thumbnail", (e) => this.session && this.session.setThumbnailSending(e.detail.send));
    sig.addEventListener("reconnecting", (e) => {
      connBadge.textContent = t("room.reconnecting", { n: e.detail.attempt });
      connBadge.dataset.quality = "poor";
      connBadge.dataset.state = "reconnecting";
    });
    sig.addEventListener("reconnected", (e) => {
      connBadge.dataset.state = "connected";
      this.toast.show(t("room.reconnected"), "info");
      this.tiles.clear();
      this.dispatch(e.detail); // a share in progress stops with the old connection (welcome: screenOn false)
      if (this.state.captionsOn) this.send({ type: "captions", enabled: true }); // a new socket: ask again
      this.startMedia();
    });
    sig.addEventListener("close", (e) => {
      const { code, error } = e.detail;
      // removed now, or refused on joining again (error `removed`: the server says it stays out until readmitted)
      if (code === CLOSE.REMOVED) this.ended(error && error.code === "removed" ? error.message : t("room.removed"));
      else if (code === CLOSE.REPLACED) this.ended(t("room.replaced"));
      else if (code === CLOSE.ENDED) this.ended(t("room.ended"));
      else if (FINAL_CLOSES.includes(code)) this.ended((error && error.message) || t("room.closed", { code }));
    });
    sig.addEventListener("failed", (e) => this.ended(e.detail.message || t("room.closed", { code: e.detail.code })));
  }

  async _updateStats() {
    if (!this.meter || !this.session) return;
    try {
      showQuality(this.connBadge, await this.meter.sample());
    } catch {
      // the peer connection was replaced meanwhile
    }
  }

  /** Local media, the socket, the peer connection; the page's teardown. */
  async open() {
    await this._openLocalMedia();
    const page = this;
    // tests and support read the live objects here
    window.__giaoban = {
      get session() {
        return page.session;
      },
      get state() {
        return page.state;
      },
      sig: this.sig,
    };
    this._wireSignaling();
    try {
      this.dispatch(await this.sig.connect());
    } catch (err) {
      this.ended(err.message || t("room.closed", { code: err.code }));
      return () => this.cleanup();
    }
    if (this.isEnded) return () => {};
    this.connBadge.dataset.state = "connected";
    this.startMedia();
    this.draw();
    this.badges.tick(this.state, Date.now());
    this.timers = [
      setInterval(() => this._updateStats(), STATS_INTERVAL_MS),
      setInterval(() => this.badges.tick(this.state, Date.now()), CLOCK_INTERVAL_MS),
    ];
    return () => {
      if (!this.isEnded) {
        this.send({ type: "leave" });
        this.cleanup();
      }
    };
  }

  ended(text) {
    if (this.isEnded) return;
    this.isEnded = true;
    this.state = apply(this.state, { type: "ui:ended", ended: { text } });
    this.cleanup();
    mount(this.main, endedScreen(this.meeting, this.meetingId, text));
  }

  cleanup() {
    this.timers.forEach(clearInterval);
    this.toast.close();
    this.captions.close();
    this.stopLevel();
    this.sig.close();
    if (this.session && this.session.local.screen) this.session.local.screen.stop();
    if (this.session) this.session.close();
    if (this.local) this.local.getTracks().forEach((tr) => tr.stop());
  }
}

export async function render({ main, params, user }) {
  const meetingId = Number(params[0]);
  const meeting = await api.get(`/api/meetings/${meetingId}`);
  const room = new RoomPage(main, meetingId, meeting, user);
  return room.open();
}
