// The meeting room's state as one plain object, and `apply(state, message)`: the next state after one server
// message (docs/signaling.md, server/rooms/messages.py) or one local action (types starting with "ui:").
// Pure: no DOM, no sockets, no clock, no translation; never mutates its input. The views render from the
// state; room.js performs what a change asks of the browser (a microphone track, a toast, the end screen).

import { fold } from "../fold.js";

export const CHAT_KEEP = 500; // chat messages kept in the state (the server replays at most its own history)
export const CAPTION_LINES = 2; // live caption lines shown at once (the latest)
const CAPTION_ERRORS = ["captions_off", "captions_failed"]; // docs/signaling.md: no captions will come

/** The state before `welcome`: `options` are the page's own choices (role, saved camera/audio-only choice). */
export function initialState({ role = "", camOn = true, audioOnly = false, startedAt = null } = {}) {
  return {
    role,
    me: null,
    meetingId: null,
    title: "",
    startedAt,
    participants: [], // connected participants, in join order (ParticipantInfo objects)
    streams: [], // StreamInfo of the latest offer: what this browser receives
    floor: null,
    floorControl: true,
    locked: false,
    recording: false,
    canModerate: false,
    canEnd: false,
    activeSpeaker: null,
    rollCall: [],
    rollDrafts: {}, // unit → {status, reason}: a chair's roll-call edit not yet confirmed by the server
    removed: [], // to the chair and clerk: the participants removed and not readmitted (RemovedInfo objects)
    hands: [], // participant ids with a raised hand, in the order they raised it
    chat: [],
    chatUnread: 0,
    tab: "people",
    iceServers: [],
    micOn: false,
    camOn,
    handUp: false,
    audioOnly,
    screenOn: false,
    captionsOn: false, // this page asked for live captions (`captions` enabled); kept across a reconnect
    captions: [], // the caption lines shown, oldest first: {unit, unitName, username, text, start, end, final}
    links: {}, // participant id → its link as the server measures it (link_quality: rating, rtt_ms, loss…)
    notice: null, // {seq, kind: "error" | "info", key?, params?, text?}: the latest thing to tell the user
    ended: null, // {key, params?} or {text}: the room is over for this page
  };
}

// ---- reading the state (pure helpers the views share) ------------------------------------------------------

export function participant(state, pid) {
  return state.participants.find((p) => p.id === pid) || null;
}

export function isMuted(p) {
  return !!(p && (p.audio_muted || p.server_muted));
}

/** The participant shown as "speaking now": the floor holder while its microphone is open. */
export function speakingNow(state) {
  const p = participant(state, state.floor);
  return p && !isMuted(p) ? p.id : null;
}

/** A participant's link as the server last measured it (`link_quality`), or null. */
export function linkOf(state, pid) {
  return (state.links && state.links[pid]) || null;
}

/** A unit's name from its code: a participant of that unit, else its roll-call entry, else the code. */
export function unitNameByCode(state, code) {
  const p = state.participants.find((x) => x.unit === code);
  if (p) return p.unit_name;
  const e = state.rollCall.find((x) => x.unit === code);
  return e && e.unit_name ? e.unit_name : code;
}

/** Whether the server holds back `pid`'s video from this page to spare its link (`videos_paused` of its own line). */
export function videoPaused(state, pid) {
  const own = linkOf(state, state.me);
  return Boolean(own && Array.isArray(own.videos_paused) && own.videos_paused.includes(pid));
}

/** Whether the server sends `pid`'s camera to this page as its thumbnail, to spare its link (`videos_reduced`). */
export function videoReduced(state, pid) {
  const own = linkOf(state, state.me);
  return Boolean(own && Array.isArray(own.videos_reduced) && own.videos_reduced.includes(pid));
}

/** Raised hands in the order they were raised: [{id, position, unit_name, display_name}]. */
export function handQueue(state) {
  return state.hands
    .map((id) => participant(state, id))
    .filter((p) => p && p.hand_raised)
    .map((p, i) => ({ id: p.id, position: i + 1, unit_name: p.unit_name, display_name: p.display_name || p.username }));
}

export function handPosition(state, pid) {
  const entry = handQueue(state).find((e) => e.id === pid);
  return entry ? entry.position : null;
}

/** "UBND xã Chư Mố" → "Chư Mố": the part of a unit's name that tells it apart from its neighbours. */
export function shortUnitName(name) {
  const short = String(name || "")
    .replace(/^(UBND|Ủy ban nhân dân)\s+(xã|phường|thị trấn|huyện|thị xã|thành phố|tỉnh)\s+/iu, "")
    .trim();
  return short || String(name || "?");
}

/** The unit name a tile of participant `pid` shows: its participant info, else the offer's label. */
export function unitNameOf(state, pid) {
  const p = participant(state, pid);
  if (p) return p.unit_name;
  const s = state.streams.find((x) => x.participant_id === pid);
  return s ? s.unit_name : pid;
}

/** Participant ids that get a tile: others whose media the latest offer carries and who are still here. */
export function tileIds(state) {
  const seen = new Set();
  for (const s of state.streams) {
    if (s.participant_id !== state.me && participant(state, s.participant_id)) seen.add(s.participant_id);
  }
  return [...seen];
}

/** Whose screen is on the stage (null when none, or when this page receives audio only). */
export function screenSharer(state) {
  if (state.audioOnly) return null;
  const s = state.streams.find((x) => x.source === "screen" && x.participant_id !== state.me);
  const p = s && participant(state, s.participant_id);
  return p && p.screen_sharing ? p.id : null;
}

/** The roll-call as shown: each unit's confirmed entry, overlaid by the chair's unconfirmed edit. */
export function rollCallRows(state) {
  return state.rollCall.map((e) => {
    const draft = state.rollDrafts[e.unit];
    return draft
      ? { ...e, confirmed: e.status, status: draft.status, reason: draft.reason, pending: true }
      : { ...e, confirmed: e.status, reason: e.reason || "", pending: false };
  });
}

/** Whether a roll-call row is in view: its confirmed status is the filter's ("all": any), and its folded name
 * (fold.js) holds every word of the folded query ("chu mo" → UBND xã Chư Mố). row: {name, status}. */
export function rollRowShown(row, query, filter) {
  if (filter !== "all" && row.status !== filter) return false;
  return foldedMatch(row.name, query);
}

/** Whether folded text holds every word of a folded query, in any order (a blank query: always). */
export function foldedMatch(folded, query) {
  return String(query || "")
    .split(/\s+/)
    .every((w) => !w || folded.includes(w));
}

/** The text the people tab's search looks in: a participant's unit and person, folded ("chu mo" finds Chư Mố). */
export function personSearchText(p) {
  return fold(`${p.unit_name} ${p.display_name || ""} ${p.username || ""}`);
}

/** What a participant's tile or wall thumbnail marks: `active` the loudest recent speaker (outlined), `floor` the
 * floor holder, `speaking` the floor holder with an open microphone, `hand` its turn in the hand queue (or
 * null), `muted` its microphone off, `link` its `link_quality` line (or null). `hands`: handQueue(state), given
 * when marking many tiles so the queue is not rebuilt for each. */
export function tileMarks(state, pid, hands = handQueue(state)) {
  const p = participant(state, pid);
  const turn = hands.find((e) => e.id === pid);
  return {
    active: state.activeSpeaker === pid,
    floor: state.floor === pid,
    speaking: speakingNow(state) === pid,
    hand: turn ? turn.position : null,
    muted: isMuted(p),
    link: linkOf(state, pid),
  };
}

/** The flags a tile shows, in order: "link", "paused", "speaking", "hand", "muted". A wall thumbnail (`wall`) is
 * small: it flags a link only when poor, and leaves the floor to its outline. `paused`: the server holds its
 * video back from this page (the main tiles only). */
export function flagKinds(marks, { wall = false, paused = false } = {}) {
  const link = marks.link && (!wall || marks.link.rating === "poor");
  return [
    link && "link",
    !wall && paused && "paused",
    !wall && marks.speaking && "speaking",
    marks.hand && "hand",
    marks.muted && "muted",
  ].filter(Boolean);
}

export function rollCallCounts(entries) {
  const counts = { present_online: 0, present_in_person: 0, absent: 0, not_called: 0 };
  for (const e of entries) counts[e.status] = (counts[e.status] || 0) + 1;
  return counts;
}

/** Seconds since the meeting started, from `startedAt` (ISO text) and the time now (ms since the epoch). */
export function elapsedSeconds(startedAt, nowMs) {
  const start = startedAt ? Date.parse(startedAt) : NaN;
  return Number.isNaN(start) ? null : Math.max(0, Math.floor((nowMs - start) / 1000));
}

/** "1:02:03" or "02:03". */
export function formatElapsed(seconds) {
  if (seconds === null || seconds === undefined) return "--:--";
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

// ---- the reducer -----------------------------------------------------------------------------------------

function withNotice(state, notice) {
  const seq = state.notice ? state.notice.seq + 1 : 1;
  return { ...state, notice: { seq, kind: "info", ...notice } };
}

function upsert(list, p) {
  const i = list.findIndex((x) => x.id === p.id);
  if (i < 0) return [...list, p];
  const next = list.slice();
  next[i] = p;
  return next;
}

/** The hand queue after `p` changed: raised hands join the end, lowered ones leave, others keep their place. */
function handsAfter(hands, p) {
  const listed = hands.includes(p.id);
  if (p.hand_raised && !listed) return [...hands, p.id];
  if (!p.hand_raised && listed) return hands.filter((id) => id !== p.id);
  return hands;
}

function byJoinTime(a, b) {
  return String(a.joined_at || "").localeCompare(String(b.joined_at || ""));
}

/** Drafts the server's roll-call now confirms are dropped; the others (still being typed, or refused) stay. */
function draftsAfter(drafts, entries) {
  let next = drafts;
  for (const e of entries) {
    const d = drafts[e.unit];
    if (d && d.saved && e.status === d.status && (e.reason || "").trim() === d.reason.trim()) {
      if (next === drafts) next = { ...drafts };
      delete next[e.unit];
    }
  }
  return next;
}

function welcome(state, w) {
  const participants = w.participants.filter((p) => p.connected !== false);
  const raised = participants.filter((p) => p.hand_raised);
  const ids = new Set(raised.map((p) => p.id));
  // a reconnect keeps the order it knew; hands it did not know join behind, in the order their owners joined
  const hands = [
    ...state.hands.filter((id) => ids.has(id)),
    ...raised
      .filter((p) => !state.hands.includes(p.id))
      .sort(byJoinTime)
      .map((p) => p.id),
  ];
  const floorHolder = participants.find((p) => p.id === w.floor);
  return {
    ...state,
    me: w.participant_id,
    meetingId: w.meeting_id,
    title: w.title,
    participants,
    streams: [],
    floor: floorHolder && floorHolder.server_muted ? null : w.floor,
    floorControl: w.floor_control,
    locked: w.locked,
    recording: w.recording,
    canModerate: w.can_moderate,
    canEnd: w.can_moderate && (state.role === "admin" || state.role === "chair"),
    rollCall: w.roll_call,
    rollDrafts: draftsAfter(state.rollDrafts, w.roll_call),
    removed: w.removed || [],
    hands,
    chat: w.chat.slice(-CHAT_KEEP),
    iceServers: [...w.ice_servers, ...(w.turn || [])], // strings, then TURN entries with fresh credentials
    micOn: !w.you.audio_muted && !w.you.server_muted,
    handUp: w.you.hand_raised,
    screenOn: false,
    agenda: w.agenda || [], // the meeting's agenda items, and the id of the one the chair opened
    agendaCurrent: w.agenda_current ?? null,
  };
}

function participantUpdated(state, p) {
  if (p.connected === false) return participantLeft(state, { participant_id: p.id, reason: "disconnected" });
  const next = { ...state, participants: upsert(state.participants, p), hands: handsAfter(state.hands, p) };
  // the server takes the floor back from a muted holder without a `floor` message: the badge goes with it
  if (state.floor === p.id && p.server_muted) next.floor = null;
  if (p.id === state.me) {
    next.handUp = p.hand_raised;
    if (p.audio_muted && state.micOn) next.micOn = false;
    if (!p.may_share_screen && state.screenOn) next.screenOn = false;
  }
  return next;
}

function participantLeft(state, { participant_id: pid, reason }) {
  const p = participant(state, pid);
  let next = {
    ...state,
    participants: state.participants.filter((x) => x.id !== pid),
    streams: state.streams.filter((s) => s.participant_id !== pid),
    hands: state.hands.filter((id) => id !== pid),
    activeSpeaker: state.activeSpeaker === pid ? null : state.activeSpeaker,
    floor: state.floor === pid && reason === "removed" ? null : state.floor,
  };
  if (state.links && pid in state.links) {
    next.links = { ...state.links };
    delete next.links[pid];
  }
  if (p && reason === "removed") next = withNotice(next, { key: "room.removed_other", params: { name: p.unit_name } });
  return next;
}

function mutedByChair(state) {
  const me = participant(state, state.me);
  const next = {
    ...state,
    micOn: false,
    floor: state.floor === state.me ? null : state.floor,
    participants: me ? upsert(state.participants, { ...me, audio_muted: true, server_muted: true }) : state.participants,
  };
  return withNotice(next, { key: "room.muted_by_chair" });
}

/** The server's link measures (every 2 s): each line replaces that participant's; lines of people not in the
 * room are ignored. The chair receives every connection point, a commune only its own. */
function linkQuality(state, msg) {
  if (!Array.isArray(msg.links)) return state;
  const present = new Set(state.participants.map((p) => p.id));
  const links = { ...state.links };
  for (const line of msg.links) {
    if (line && typeof line.participant_id === "string" && present.has(line.participant_id)) links[line.participant_id] = line;
  }
  return { ...state, links };
}

/** A live caption (only while this page asked for them): a partial one replaces the open (not final) line of
 * its unit, or opens a new line; a final one fixes that line; an empty one withdraws the open line. The
 * latest CAPTION_LINES lines are kept. */
function captionReceived(state, msg) {
  if (!state.captionsOn || typeof msg.unit !== "string" || typeof msg.text !== "string") return state;
  const line = {
    unit: msg.unit,
    unitName: unitNameByCode(state, msg.unit),
    username: msg.username || "",
    text: msg.text.trim(),
    start: msg.start,
    end: msg.end,
    final: msg.final === true,
  };
  const open = state.captions.findIndex((l) => l.unit === msg.unit && !l.final);
  let lines = state.captions.slice();
  if (open >= 0) lines[open] = line;
  else lines.push(line);
  if (!line.text) lines = lines.filter((l) => l !== line);
  return { ...state, captions: lines.slice(-CAPTION_LINES) };
}

/** Local actions: what this page's user did (the socket message, if any, is sent by room.js). */
function local(state, a) {
  switch (a.type) {
    case "ui:tab":
      return { ...state, tab: a.tab, chatUnread: a.tab === "chat" ? 0 : state.chatUnread };
    case "ui:mic": {
      const me = participant(state, state.me);
      if (a.on && me && me.server_muted) return withNotice(state, { key: "room.need_floor" });
      return { ...state, micOn: a.on };
    }
    case "ui:cam":
      return { ...state, camOn: a.on };
    case "ui:hand":
      return { ...state, handUp: a.raised };
    case "ui:audio_only":
      return { ...state, audioOnly: a.enabled };
    case "ui:screen":
      return { ...state, screenOn: a.on };
    case "ui:roll_draft":
      return { ...state, rollDrafts: { ...state.rollDrafts, [a.unit]: { status: a.status, reason: a.reason, saved: false } } };
    case "ui:roll_saved":
      // sent to the server: kept until the server's roll-call confirms it (a refusal leaves the text in place)
      return { ...state, rollDrafts: { ...state.rollDrafts, [a.unit]: { status: a.status, reason: a.reason, saved: true } } };
    case "ui:roll_discard": {
      if (!(a.unit in state.rollDrafts)) return state;
      const rollDrafts = { ...state.rollDrafts };
      delete rollDrafts[a.unit];
      return { ...state, rollDrafts };
    }
    case "ui:captions":
      return { ...state, captionsOn: a.enabled, captions: a.enabled ? state.captions : [] };
    case "ui:captions_idle": // no caption for a while: the band faded out, its lines go
      return state.captions.length ? { ...state, captions: [] } : state;
    case "ui:notice":
      return withNotice(state, { kind: a.kind || "error", key: a.key, params: a.params, text: a.text });
    case "ui:ended":
      return state.ended ? state : { ...state, ended: a.ended };
    default:
      return state;
  }
}

/** The next state after `msg`; an unknown type returns `state` itself. */
export function apply(state, msg) {
  if (!msg || typeof msg.type !== "string") return state;
  if (state.ended && msg.type !== "ui:tab") return state;
  switch (msg.type) {
    case "welcome":
      return welcome(state, msg);
    case "offer":
      return { ...state, streams: msg.streams || [] };
    case "participant_joined":
    case "participant_updated":
      return participantUpdated(state, msg.participant);
    case "participant_left":
      return participantLeft(state, msg);
    case "floor": {
      const next = { ...state, floor: msg.participant_id };
      if (msg.participant_id !== null && msg.participant_id === state.me) {
        return withNotice({ ...next, micOn: true }, { key: "room.floor_given" });
      }
      return next;
    }
    case "floor_control":
      return { ...state, floorControl: msg.enabled };
    case "active_speaker":
      return { ...state, activeSpeaker: msg.participant_id };
    case "roll_call":
      return { ...state, rollCall: msg.entries, rollDrafts: draftsAfter(state.rollDrafts, msg.entries) };
    case "roll_call_entry": {
      const entry = msg.entry;
      if (!entry || typeof entry.unit !== "string") return state;
      const known = state.rollCall.some((e) => e.unit === entry.unit);
      const rollCall = known ? state.rollCall.map((e) => (e.unit === entry.unit ? entry : e)) : [...state.rollCall, entry];
      return { ...state, rollCall, rollDrafts: draftsAfter(state.rollDrafts, [entry]) };
    }
    case "chat":
      return {
        ...state,
        chat: [...state.chat, msg.message].slice(-CHAT_KEEP),
        chatUnread: state.tab === "chat" ? state.chatUnread : state.chatUnread + 1,
      };
    case "recording": {
      const next = { ...state, recording: msg.on };
      return msg.error ? withNotice(next, { kind: "error", key: "room.recording_error", params: { error: msg.error } }) : next;
    }
    case "locked":
      return { ...state, locked: msg.locked };
    case "muted_by_chair":
      return mutedByChair(state);
    case "removed":
      return Array.isArray(msg.participants) ? { ...state, removed: msg.participants } : state;
    case "meeting_ended":
      return { ...state, ended: { key: "room.ended" } };
    case "notification":
      return withNotice(state, { kind: "info", text: msg.text });
    case "error": {
      // captions refused (turned off on this server) or failed for good: the toggle goes back off
      const off = CAPTION_ERRORS.includes(msg.code) ? { captionsOn: false, captions: [] } : {};
      return withNotice({ ...state, ...off }, { kind: "error", text: msg.message });
    }
    case "pong":
      return state;
    case "link_quality":
      return linkQuality(state, msg);
    case "wall":
      return { ...state, wall: msg };
    case "agenda":
      return Array.isArray(msg.items) ? { ...state, agenda: msg.items, agendaCurrent: msg.current ?? null } : state;
    case "caption":
      return captionReceived(state, msg);
    default:
      return msg.type.startsWith("ui:") ? local(state, msg) : state;
  }
}
