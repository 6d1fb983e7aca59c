// The meeting room: signaling + one peer connection to the SFU, the video grid labelled with unit names,
// own controls, chat, quality, reconnect, and the chair's panel.
import { api } from "../api.js";
import { h, mount } from "../dom.js";
import { icon } from "../icons.js";
import { t } from "../i18n.js";
import { loadChoice, openLocalMedia, saveChoice } from "../media/devices.js";
import { levelBar, watchLevel } from "../media/levels.js";
import { participantActions, renderMeetingControls, renderRollCall } from "../room/chair.js";
import { MediaSession } from "../room/peer.js";
import { CLOSE, Signaling } from "../room/signaling.js";
import { QualityMeter } from "../room/stats.js";

const STATS_INTERVAL_MS = 2000;

export async function render({ main, params, user }) {
  const meetingId = Number(params[0]);
  const meeting = await api.get(`/api/meetings/${meetingId}`);
  const choice = loadChoice();
  const state = {
    me: null, participants: new Map(), floor: null, floorControl: true, locked: false, recording: false,
    canModerate: false, canEnd: false, activeSpeaker: null, rollCall: [], micOn: false, camOn: choice.publishVideo,
    handUp: false, audioOnly: choice.audioOnly, screenOn: false, ended: false, chatUnread: 0, tab: "people",
  };
  let local = null;
  let session = null;
  let meter = null;
  let statsTimer = null;
  let stopLevel = () => {};
  const tiles = new Map(); // participant id → {el, video, screenVideo, audio}

  // ---- layout --------------------------------------------------------------------------------------------
  const toast = h("div.toast", { role: "alert", "aria-live": "assertive", hidden: true, "data-testid": "room-error" });
  const connBadge = h("span.conn", { "data-testid": "connection", "data-quality": "unknown", title: t("room.quality") }, t("room.connecting"));
  const recBadge = h("span.rec", { "data-testid": "recording", hidden: true, title: t("room.recording") }, "● ", t("room.recording"));
  const lockBadge = h("span.lockbadge", { hidden: true }, icon("lock", 14), " ", t("room.locked"));
  const stage = h("div.stage", { hidden: true, "aria-label": t("room.screen_stage") });
  const grid = h("div.video-grid", { "data-testid": "video-grid", "aria-label": t("room.grid") });
  const peopleList = h("ul.people", { "aria-label": t("room.participants") });
  const chairBox = h("div.chair-box");
  const rollBox = h("div.roll-box", { "data-testid": "roll-call" });
  const chatLog = h("ol.chat-log", { "aria-live": "polite", "aria-label": t("room.chat") });
  const chatInput = h("input#chat-text", { maxlength: 2000, autocomplete: "off", "aria-label": t("room.chat_input"), placeholder: t("room.chat_input") });
  const ownVideo = h("video.own", { autoplay: true, muted: true, playsInline: true, "aria-label": t("room.own_preview") });
  const ownBar = levelBar(t("check.mic_level"));

  const btn = (id, label, onclick, extra = {}) => h(`button.tool#${id}`, { type: "button", "aria-label": label, onclick, ...extra }, label);
  const micBtn = btn("btn-mic", t("room.mic_on"), toggleMic);
  const camBtn = btn("btn-cam", t("room.cam_off"), toggleCam);
  const handBtn = btn("btn-hand", t("room.raise_hand"), toggleHand);
  const screenBtn = btn("btn-screen", t("room.share_screen"), toggleScreen);
  const audioOnlyBtn = btn("btn-audio-only", t("room.audio_only"), toggleAudioOnly);
  const leaveBtn = h("button.tool.danger#btn-leave", { type: "button", "aria-label": t("room.leave"), onclick: leave }, t("room.leave"));

  const tabs = ["people", "chat", "roll"].map((id) => h("button.tab", { type: "button", role: "tab", id: `tab-${id}`, "aria-controls": `pane-${id}`,
    onclick: () => showTab(id) }, t("room.tab_" + id)));
  const panes = {
    people: h("div.pane#pane-people", { role: "tabpanel", "aria-labelledby": "tab-people" }, chairBox, peopleList),
    chat: h("div.pane#pane-chat", { role: "tabpanel", "aria-labelledby": "tab-chat" }, chatLog,
      h("form.chat-form", { onsubmit: sendChat, "aria-label": t("room.chat") }, chatInput,
        h("button.btn.primary.small", { type: "submit", "aria-label": t("room.chat_send") }, t("room.chat_send")))),
    roll: h("div.pane#pane-roll", { role: "tabpanel", "aria-labelledby": "tab-roll" }, rollBox),
  };

  mount(main, h("div.room", { "data-testid": "room" },
    h("header.room-bar", {},
      h("a.btn.ghost.small", { href: "#/meetings", "aria-label": t("common.back") }, "←"),
      h("div.room-title", {}, h("h1", {}, meeting.title), h("div.small.muted", {}, meeting.chair_unit_name)),
      h("div.room-badges", {}, recBadge, lockBadge, connBadge)),
    h("div.room-body", {},
      h("section.room-main", { "aria-label": t("room.grid") }, stage, grid),
      h("aside.room-side", { "aria-label": t("room.side") }, h("div.tabs", { role: "tablist" }, tabs), Object.values(panes))),
    h("footer.room-tools", { role: "toolbar", "aria-label": t("room.toolbar") },
      h("div.own-box", {}, ownVideo, ownBar), micBtn, camBtn, handBtn, screenBtn, audioOnlyBtn, leaveBtn),
    toast));

  function showTab(id) {
    state.tab = id;
    for (const b of tabs) b.setAttribute("aria-selected", String(b.id === `tab-${id}`));
    for (const [key, pane] of Object.entries(panes)) pane.hidden = key !== id;
    if (id === "chat") { state.chatUnread = 0; drawTabs(); }
  }
  function drawTabs() {
    tabs[1].textContent = t("room.tab_chat") + (state.chatUnread ? ` (${state.chatUnread})` : "");
    tabs[2].hidden = !state.canModerate;
  }

  let toastTimer = null;
  function notify(text, kind = "error") {
    toast.textContent = text;
    toast.className = `toast ${kind}`;
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { toast.hidden = true; }, 6000);
  }

  // ---- local media ---------------------------------------------------------------------------------------
  try {
    local = await openLocalMedia(choice);
  } catch (err) {
    notify(t("check.media_failed", { error: err.message || err.name }));
    local = new MediaStream();
  }
  const micTrack = () => local.getAudioTracks()[0] || null;
  const camTrack = () => local.getVideoTracks()[0] || null;
  if (micTrack()) micTrack().enabled = false; // microphones stay closed until unmuted / given the floor
  ownVideo.srcObject = local;
  stopLevel = watchLevel(local, (level) => ownBar.update(state.micOn ? level : 0));

  // ---- signaling -----------------------------------------------------------------------------------------
  const sig = new Signaling(meetingId);
  const send = (msg) => sig.send(msg);

  function startMedia() {
    if (session) session.close();
    session = new MediaSession(send, { mic: micTrack(), camera: state.camOn ? camTrack() : null }, state.iceServers, state.me);
    session.addEventListener("remote", (e) => bindRemote(e.detail));
    session.addEventListener("state", (e) => { connBadge.dataset.pc = e.detail; if (e.detail === "failed") notify(t("room.media_failed")); });
    window.__giaoban = { session, state, sig };
    meter = new QualityMeter(session.pc);
    send({ type: "join", audio_only: state.audioOnly, publish_video: choice.publishVideo });
  }

  function applyWelcome(w) {
    state.me = w.participant_id;
    state.participants = new Map(w.participants.map((p) => [p.id, p]));
    state.floor = w.floor;
    state.floorControl = w.floor_control;
    state.locked = w.locked;
    state.recording = w.recording;
    state.canModerate = w.can_moderate;
    state.canEnd = w.can_moderate && (user.role === "admin" || user.role === "chair");
    state.rollCall = w.roll_call;
    state.iceServers = w.ice_servers;
    state.micOn = !w.you.audio_muted && !w.you.server_muted;
    if (micTrack()) micTrack().enabled = state.micOn;
    mount(chatLog, w.chat.map(chatItem));
    drawAll();
  }

  sig.addEventListener("offer", (e) => session && session.handleOffer(e.detail));
  sig.addEventListener("participant_joined", (e) => { state.participants.set(e.detail.participant.id, e.detail.participant); drawAll(); });
  sig.addEventListener("participant_left", (e) => {
    const p = state.participants.get(e.detail.participant_id);
    state.participants.delete(e.detail.participant_id);
    removeTile(e.detail.participant_id);
    if (p && e.detail.reason === "removed") notify(t("room.removed_other", { name: p.unit_name }), "info");
    drawAll();
  });
  sig.addEventListener("participant_updated", (e) => {
    const p = e.detail.participant;
    state.participants.set(p.id, p);
    if (p.id === state.me) {
      state.handUp = p.hand_raised;
      if (p.audio_muted && state.micOn) setMic(false, false);
      if (!p.may_share_screen && state.screenOn) stopScreen(false);
    }
    drawAll();
  });
  sig.addEventListener("floor", (e) => {
    state.floor = e.detail.participant_id;
    if (state.floor === state.me) {
      notify(t("room.floor_given"), "info");
      setMic(true);
    }
    drawAll();
  });
  sig.addEventListener("floor_control", (e) => { state.floorControl = e.detail.enabled; drawAll(); });
  sig.addEventListener("active_speaker", (e) => { state.activeSpeaker = e.detail.participant_id; drawTiles(); });
  sig.addEventListener("roll_call", (e) => { state.rollCall = e.detail.entries; drawRoll(); });
  sig.addEventListener("chat", (e) => {
    chatLog.append(chatItem(e.detail.message));
    chatLog.scrollTop = chatLog.scrollHeight;
    if (state.tab !== "chat") { state.chatUnread += 1; drawTabs(); }
  });
  sig.addEventListener("recording", (e) => {
    state.recording = e.detail.on;
    if (e.detail.error) notify(t("room.recording_error", { error: e.detail.error }));
    drawBadges();
  });
  sig.addEventListener("locked", (e) => { state.locked = e.detail.locked; drawAll(); });
  sig.addEventListener("muted_by_chair", () => { setMic(false, false); notify(t("room.muted_by_chair"), "info"); });
  sig.addEventListener("error", (e) => notify(e.detail.message));
  sig.addEventListener("notification", (e) => notify(e.detail.text, "info"));
  sig.addEventListener("meeting_ended", () => ended(t("room.ended")));
  sig.addEventListener("ice", () => {});
  sig.addEventListener("reconnecting", (e) => {
    connBadge.textContent = t("room.reconnecting", { n: e.detail.attempt });
    connBadge.dataset.quality = "poor";
    connBadge.dataset.state = "reconnecting";
  });
  sig.addEventListener("reconnected", (e) => {
    connBadge.dataset.state = "connected";
    notify(t("room.reconnected"), "info");
    for (const id of [...tiles.keys()]) removeTile(id);
    applyWelcome(e.detail);
    startMedia();
  });
  sig.addEventListener("close", (e) => {
    const { code, error } = e.detail;
    if (code === CLOSE.REMOVED) ended(t("room.removed"));
    else if (code === CLOSE.REPLACED) ended(t("room.replaced"));
    else if (code === CLOSE.ENDED) ended(t("room.ended"));
    else if ([CLOSE.FORBIDDEN, CLOSE.NOT_LIVE, CLOSE.NOT_FOUND, CLOSE.UNAUTHENTICATED, CLOSE.BAD_MESSAGE, CLOSE.TOO_MANY].includes(code)) {
      ended((error && error.message) || t("room.closed", { code }));
    }
  });
  sig.addEventListener("failed", (e) => ended(e.detail.message || t("room.closed", { code: e.detail.code })));

  // ---- own controls --------------------------------------------------------------------------------------
  function setMic(on, tell = true) {
    state.micOn = on;
    if (micTrack()) micTrack().enabled = on;
    if (tell) send({ type: "mute", audio: !on });
    drawToolbar();
  }
  function toggleMic() {
    const me = state.participants.get(state.me);
    if (!state.micOn && me && me.server_muted) {
      notify(t("room.need_floor"), "info");
      return;
    }
    setMic(!state.micOn);
  }
  function toggleCam() {
    state.camOn = !state.camOn;
    if (camTrack()) camTrack().enabled = state.camOn;
    send({ type: "mute", video: !state.camOn });
    drawToolbar();
  }
  function toggleHand() {
    state.handUp = !state.handUp;
    send({ type: "raise_hand", raised: state.handUp });
    drawToolbar();
  }
  function toggleAudioOnly() {
    state.audioOnly = !state.audioOnly;
    saveChoice({ ...choice, audioOnly: state.audioOnly });
    send({ type: "audio_only", enabled: state.audioOnly });
    drawAll();
  }
  async function toggleScreen() {
    if (state.screenOn) return stopScreen(true);
    let display;
    try {
      display = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 5 }, audio: false });
    } catch (err) {
      notify(t("room.screen_failed", { error: err.message || err.name }));
      return;
    }
    const track = display.getVideoTracks()[0];
    track.addEventListener("ended", () => stopScreen(true));
    await session.setLocal("screen", track);
    state.screenOn = true;
    send({ type: "screen_share", on: true });
    drawToolbar();
  }
  async function stopScreen(tell) {
    const track = session && session.local.screen;
    if (track) track.stop();
    if (session) await session.setLocal("screen", null);
    state.screenOn = false;
    if (tell) send({ type: "screen_share", on: false });
    drawToolbar();
  }
  function sendChat(event) {
    event.preventDefault();
    const text = chatInput.value.trim();
    if (!text) return;
    send({ type: "chat", text });
    chatInput.value = "";
  }
  function leave() {
    send({ type: "leave" });
    sig.close();
    location.hash = "#/meetings";
  }

  const chairActions = {
    muteAll: () => send({ type: "mute_all" }),
    floorControl: (enabled) => send({ type: "floor_control", enabled }),
    giveFloor: (pid) => send({ type: "give_floor", participant_id: pid }),
    lock: (locked) => send({ type: "lock", locked }),
    end: () => { if (confirm(t("meeting.end_confirm"))) send({ type: "end_meeting" }); },
    mute: (pid) => send({ type: "mute_participant", participant_id: pid }),
    remove: (pid) => send({ type: "remove_participant", participant_id: pid }),
    allowScreen: (pid, allowed) => send({ type: "allow_screen_share", participant_id: pid, allowed }),
  };

  // ---- remote media --------------------------------------------------------------------------------------
  function tileFor(pid) {
    let tile = tiles.get(pid);
    if (tile) return tile;
    const p = state.participants.get(pid) || { unit_name: pid, display_name: "" };
    const video = h("video.remote", { autoplay: true, muted: true, playsInline: true, "data-participant": pid, "data-source": "camera",
      "aria-label": t("room.video_of", { name: p.unit_name }) });
    const audio = h("audio", { autoplay: true, "data-participant": pid, "aria-label": t("room.audio_of", { name: p.unit_name }) });
    const name = h("div.tile-name");
    const flags = h("div.tile-flags");
    const el = h("figure.tile", { "data-participant": pid, tabindex: "0" }, video, h("div.avatar", { "aria-hidden": "true" }), audio,
      h("figcaption", {}, name, flags));
    grid.append(el);
    tile = { el, video, audio, name, flags, screenVideo: null };
    tiles.set(pid, tile);
    return tile;
  }
  function removeTile(pid) {
    const tile = tiles.get(pid);
    if (!tile) return;
    tile.el.remove();
    if (tile.screenEl) tile.screenEl.remove();
    tiles.delete(pid);
    drawStage();
  }
  function attach(el, track) {
    const cur = el.srcObject && el.srcObject.getTracks()[0];
    if (cur === track) return;
    el.srcObject = new MediaStream([track]);
    el.play().catch(() => {});
  }
  function bindRemote(list) {
    for (const { mid, info, track } of list) {
      if (info.participant_id === state.me) continue;
      const tile = tileFor(info.participant_id);
      if (info.kind === "audio") {
        attach(tile.audio, track);
        tile.audio.dataset.mid = mid;
      } else if (info.source === "screen") {
        if (!tile.screenEl) {
          tile.screenVideo = h("video.screen", { autoplay: true, muted: true, playsInline: true, "data-participant": info.participant_id, "data-source": "screen",
            "aria-label": t("room.screen_of", { name: info.unit_name }) });
          tile.screenEl = h("figure.screen-tile", {}, tile.screenVideo, h("figcaption", {}, t("room.screen_of", { name: info.unit_name })));
        }
        attach(tile.screenVideo, track);
        tile.screenVideo.dataset.mid = mid;
      } else {
        attach(tile.video, track);
        tile.video.dataset.mid = mid;
        tile.el.classList.add("has-video");
      }
    }
    drawAll();
  }

  // ---- drawing -------------------------------------------------------------------------------------------
  function drawAll() {
    drawBadges();
    drawToolbar();
    drawTiles();
    drawStage();
    drawPeople();
    drawRoll();
    drawTabs();
  }
  function drawBadges() {
    recBadge.hidden = !state.recording;
    lockBadge.hidden = !state.locked;
  }
  function drawToolbar() {
    const me = state.participants.get(state.me);
    const setBtn = (b, label, pressed) => { b.textContent = label; b.setAttribute("aria-label", label); b.setAttribute("aria-pressed", String(pressed)); };
    setBtn(micBtn, state.micOn ? t("room.mic_off") : t("room.mic_on"), state.micOn);
    micBtn.classList.toggle("off", !state.micOn);
    micBtn.dataset.state = state.micOn ? "on" : "off";
    setBtn(camBtn, state.camOn ? t("room.cam_off") : t("room.cam_on"), state.camOn);
    camBtn.classList.toggle("off", !state.camOn);
    camBtn.disabled = !camTrack();
    setBtn(handBtn, state.handUp ? t("room.lower_hand") : t("room.raise_hand"), state.handUp);
    setBtn(screenBtn, state.screenOn ? t("room.stop_share") : t("room.share_screen"), state.screenOn);
    screenBtn.hidden = !(me && me.may_share_screen) || !navigator.mediaDevices.getDisplayMedia;
    setBtn(audioOnlyBtn, t("room.audio_only"), state.audioOnly);
    handBtn.hidden = !!(me && me.is_chair_unit && state.canModerate);
  }
  function drawTiles() {
    grid.classList.toggle("audio-only", state.audioOnly);
    for (const [pid, tile] of tiles) {
      const p = state.participants.get(pid);
      if (!p) continue;
      tile.name.textContent = p.unit_name;
      tile.el.title = `${p.unit_name} — ${p.display_name || p.username}`;
      tile.el.setAttribute("aria-label", t("room.tile_of", { name: p.unit_name }));
      tile.el.classList.toggle("speaking", state.activeSpeaker === pid);
      tile.el.classList.toggle("floor", state.floor === pid);
      tile.el.dataset.unit = p.unit;
      mount(tile.flags,
        state.floor === pid ? h("span.flag.floor", {}, t("room.speaking_now")) : null,
        p.hand_raised ? h("span.flag.hand", { title: t("room.hand_up"), "aria-label": t("room.hand_up") }, icon("hand")) : null,
        p.audio_muted || p.server_muted ? h("span.flag.muted", { title: t("room.muted"), "aria-label": t("room.muted") }, icon("micOff")) : null);
      tile.el.querySelector(".avatar").textContent = (p.unit_name || "?").replace(/^UBND\s+(xã|huyện|tỉnh)\s+/i, "").slice(0, 2).toUpperCase();
    }
    grid.dataset.count = String(tiles.size);
  }
  function drawStage() {
    let sharing = null;
    for (const [pid, tile] of tiles) {
      const p = state.participants.get(pid);
      if (tile.screenEl && p && p.screen_sharing) sharing = tile;
    }
    if (sharing && !state.audioOnly) {
      if (sharing.screenEl.parentNode !== stage) mount(stage, sharing.screenEl);
      stage.hidden = false;
    } else {
      stage.hidden = true;
      stage.replaceChildren();
    }
  }
  function drawPeople() {
    const list = [...state.participants.values()].filter((p) => p.connected !== false);
    list.sort((a, b) => Number(b.is_chair_unit) - Number(a.is_chair_unit) || a.unit_name.localeCompare(b.unit_name, "vi"));
    const ctl = { me: state.me, floor: state.floor, canModerate: state.canModerate };
    mount(peopleList, list.map((p) => h("li", { "data-participant": p.id, class: state.activeSpeaker === p.id ? "speaking" : "" },
      h("div.person", {},
        h("div", {}, h("div.strong", {}, p.unit_name, p.id === state.me ? ` (${t("room.you")})` : ""),
          h("div.small.muted", {}, p.display_name || p.username)),
        h("div.flags", {},
          p.hand_raised ? h("span.flag.hand", { title: t("room.hand_up"), "aria-label": t("room.hand_up") }, icon("hand")) : null,
          state.floor === p.id ? h("span.flag.floor", {}, t("room.speaking_now")) : null,
          h("span", { class: "flag " + (p.audio_muted || p.server_muted ? "muted" : "live"), "aria-label": p.audio_muted || p.server_muted ? t("room.muted") : t("room.mic_open") },
            icon(p.audio_muted || p.server_muted ? "micOff" : "mic")))),
      participantActions(p, ctl, chairActions))));
    if (state.canModerate) {
      renderMeetingControls(chairBox, { floorControl: state.floorControl, locked: state.locked, floor: state.floor, canEnd: state.canEnd }, chairActions);
    } else {
      chairBox.replaceChildren();
    }
  }
  function drawRoll() {
    if (!state.canModerate) return;
    renderRollCall(rollBox, state.rollCall, (unit, status, reason) => send({ type: "roll_call", unit, status, reason }));
  }
  function chatItem(m) {
    const p = state.participants.get(m.participant_id);
    return h("li", {}, h("span.chat-who", {}, p ? p.unit_name : m.username), " ",
      h("time.small.muted", { datetime: m.at }, new Date(m.at).toLocaleTimeString()), h("div", {}, m.text));
  }

  async function updateStats() {
    if (!meter || !session) return;
    try {
      const s = await meter.sample();
      connBadge.dataset.quality = s.quality;
      connBadge.dataset.rttMs = s.rttMs === null ? "" : s.rttMs.toFixed(0);
      connBadge.dataset.lossPct = s.lossPct.toFixed(1);
      connBadge.textContent = s.rttMs === null ? t("room.connecting")
        : `${t("room.q_" + s.quality)} · ${s.rttMs.toFixed(0)} ms · ${t("room.loss")} ${s.lossPct.toFixed(1)}%`;
      connBadge.setAttribute("aria-label", `${t("room.quality")}: ${connBadge.textContent}`);
    } catch {
      // the peer connection was replaced meanwhile
    }
  }

  // ---- connect -----------------------------------------------------------------------------------------
  try {
    applyWelcome(await sig.connect());
  } catch (err) {
    ended(err.message || t("room.closed", { code: err.code }));
    return () => cleanup();
  }
  connBadge.dataset.state = "connected";
  startMedia();
  showTab("people");
  statsTimer = setInterval(updateStats, STATS_INTERVAL_MS);

  function ended(text) {
    if (state.ended) return;
    state.ended = true;
    cleanup();
    mount(main, h("div.ended.card", { role: "alert", "data-testid": "room-ended" },
      h("h1", {}, text),
      h("p", {}, meeting.title),
      h("div.actions", {}, h("a.btn.primary", { href: `#/meetings/${meetingId}` }, t("record.open")),
        h("a.btn.ghost", { href: "#/meetings" }, t("nav.meetings")))));
  }

  function cleanup() {
    clearInterval(statsTimer);
    stopLevel();
    sig.close();
    if (session) session.close();
    if (local) local.getTracks().forEach((tr) => tr.stop());
    if (session && session.local.screen) session.local.screen.stop();
  }

  return () => { if (!state.ended) { send({ type: "leave" }); cleanup(); } };
}
