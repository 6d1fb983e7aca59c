// TURN with time-limited credentials (welcome.turn, server/media/turn.py): the reducer keeps the socket's
// TURN entries after welcome.ice_servers and the peer connection's RTCIceServer list carries their
// username and credential, besides the older "turn:user:pass@host" strings. Runs under `node --test`.
import assert from "node:assert/strict";
import { test } from "node:test";

import { iceServersFrom } from "../../web/js/room/peer.js";
import { apply, initialState } from "../../web/js/room/state.js";

const YOU = {
  id: "u3",
  username: "chumo",
  display_name: "Cán bộ UBND xã Chư Mố",
  unit: "CHUMO",
  unit_name: "UBND xã Chư Mố",
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
};

function welcome(extra) {
  return {
    type: "welcome",
    participant_id: YOU.id,
    meeting_id: 7,
    title: "Giao ban tháng 3",
    you: YOU,
    participants: [YOU],
    roll_call: [],
    floor: null,
    floor_control: true,
    locked: false,
    recording: false,
    chat: [],
    ice_servers: ["stun:10.0.0.1:3478", "turn:old:p%40ss@10.0.0.2:3478"],
    can_moderate: false,
    ...extra,
  };
}

test("welcome.turn credentials reach the RTCIceServer list", () => {
  const turn = { urls: ["turn:10.0.0.3:3478"], username: "1767225600:chumo", credential: "b64==", expires: 1767225600 };
  const state = apply(initialState({ role: "member" }), welcome({ turn: [turn] }));
  assert.deepEqual(iceServersFrom(state.iceServers), [
    { urls: "stun:10.0.0.1:3478" },
    { urls: "turn:10.0.0.2:3478", username: "old", credential: "p@ss" },
    { urls: ["turn:10.0.0.3:3478"], username: "1767225600:chumo", credential: "b64==" },
  ]);
});

test("a welcome without turn (an older server) keeps the string entries only", () => {
  const state = apply(initialState({ role: "member" }), welcome({}));
  assert.deepEqual(
    iceServersFrom(state.iceServers).map((s) => s.urls),
    ["stun:10.0.0.1:3478", "turn:10.0.0.2:3478"],
  );
});
