// TURN with time-limited credentials (welcome.turn, server/media/turn.py): the reducer keeps the socket's
// TURN entries after welcome.ice_servers and the peer connection's RTCIceServer list carries their
// username and credential, besides the older "turn:user:pass@host" strings. Runs under `node --test`.
import assert from "node:assert/strict";
import { test } from "node:test";

import { iceServersFrom } from "../../web/js/room/peer.js";
import { apply, initialState } from "../../web/js/room/state.js";
import { person, welcome as welcomeTo } from "./fixtures.mjs";

const YOU = person("u3", "CHUMO", "UBND xã Chư Mố");
const ICE = ["stun:10.0.0.1:3478", "turn:old:p%40ss@10.0.0.2:3478"];
const welcome = (extra) => welcomeTo(YOU, [], { ice_servers: ICE, ...extra });

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
