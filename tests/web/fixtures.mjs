// What the web client's unit tests (tests/web/*.test.mjs) share: participants and welcome messages shaped as
// server/rooms/messages.py sends them, and `run`, which feeds messages through the room's reducer
// (web/js/room/state.js) deep-frozen, so a reducer that mutates what it was given fails the test.
import { apply } from "../../web/js/room/state.js";

/** A participant as the server describes one: a commune's member, connected, muted by the chair. */
export function person(id, unit, unitName, extra = {}) {
  return {
    id,
    username: unit.toLowerCase(),
    display_name: `Cán bộ ${unitName}`,
    unit,
    unit_name: unitName,
    role: "member",
    is_chair_unit: false,
    audio_muted: true,
    video_muted: false,
    server_muted: true,
    hand_raised: false,
    screen_sharing: false,
    may_share_screen: false,
    audio_only: false,
    connected: true,
    joined_at: "2026-03-02T08:00:01+00:00",
    ...extra,
  };
}

/** The welcome `you` gets in meeting 7 with `others` in it; `extra` sets or adds fields. */
export function welcome(you, others = [], extra = {}) {
  return {
    type: "welcome",
    participant_id: you.id,
    meeting_id: 7,
    title: "Giao ban tháng 3",
    you,
    participants: [you, ...others],
    roll_call: [],
    floor: null,
    floor_control: true,
    locked: false,
    recording: false,
    chat: [],
    ice_servers: [],
    can_moderate: you.role === "chair",
    ...extra,
  };
}

/** Deep-freeze: apply must never mutate what it was given. */
export function frozen(value) {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) frozen(v);
  }
  return value;
}

/** The state after `msgs`, each applied to a frozen state as a frozen copy. */
export function run(state, ...msgs) {
  return msgs.reduce((s, m) => apply(frozen(s), frozen(structuredClone(m))), state);
}
