// The chair's screens for 135 communes (issue 15 item 4): what each wall thumbnail and tile marks (state.js
// tileMarks, flagKinds — the loudest speaker, the floor, a raised hand and its turn, a microphone off, a poor
// link), driven by the server's messages through the reducer; and the people tab's search without accents
// (personSearchText, foldedMatch). Runs under `node --test` (no DOM).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { fold } from "../../web/js/fold.js";
import { flagKinds, foldedMatch, handQueue, initialState, personSearchText, tileMarks } from "../../web/js/room/state.js";
import { person, run, welcome } from "./fixtures.mjs";

const CHAIR = person("u0", "GIALAI", "UBND tỉnh Gia Lai", { role: "chair", is_chair_unit: true, server_muted: false });
const COMMUNES = Array.from({ length: 135 }, (_, i) => person(`c${i}`, `GL-${i}`, `UBND xã Số ${i}`));
const CHUMO = person("c200", "GL-CHUMO", "UBND xã Chư Mố", { display_name: "Nguyễn Văn Đức" });

const link = (pid, rating) => ({ participant_id: pid, rating, rtt_ms: 420, loss_up_pct: 6.2, loss_down_pct: 0, recv_kbps: 80 });
const raise = (p) => ({ type: "participant_updated", participant: { ...p, hand_raised: true } });
const room = () => run(initialState({ role: "chair" }), welcome(CHAIR, [...COMMUNES, CHUMO]));

describe("tileMarks and flagKinds: a province meeting", () => {
  test("a quiet, muted commune shows the microphone off and nothing else", () => {
    const marks = tileMarks(room(), "c7");
    assert.deepEqual(marks, { active: false, floor: false, speaking: false, hand: null, muted: true, link: null });
    assert.deepEqual(flagKinds(marks, { wall: true }), ["muted"]);
    assert.deepEqual(flagKinds(marks), ["muted"]);
  });

  test("raised hands are marked with their turn, in the order raised", () => {
    const s = run(room(), raise(COMMUNES[40]), raise(COMMUNES[3]), raise(CHUMO));
    assert.equal(tileMarks(s, "c40").hand, 1);
    assert.equal(tileMarks(s, "c3").hand, 2);
    assert.equal(tileMarks(s, "c200").hand, 3);
    assert.equal(tileMarks(s, "c4").hand, null);
    // the queue passed in (as the views do for 25 thumbnails) gives the same marks
    const hands = handQueue(s);
    assert.deepEqual(tileMarks(s, "c3", hands), tileMarks(s, "c3"));
    assert.deepEqual(flagKinds(tileMarks(s, "c3"), { wall: true }), ["hand", "muted"]);
  });

  test("the loudest speaker is outlined; the floor holder with an open microphone speaks now", () => {
    const open = { ...COMMUNES[5], audio_muted: false, server_muted: false };
    const s = run(
      room(),
      { type: "participant_updated", participant: open },
      { type: "floor", participant_id: "c5" },
      { type: "active_speaker", participant_id: "c9" },
    );
    const floor = tileMarks(s, "c5");
    assert.deepEqual([floor.active, floor.floor, floor.speaking, floor.muted], [false, true, true, false]);
    assert.deepEqual(flagKinds(floor), ["speaking"]);
    assert.deepEqual(flagKinds(floor, { wall: true }), []); // the wall shows the floor by its outline
    const loud = tileMarks(s, "c9");
    assert.deepEqual([loud.active, loud.floor, loud.speaking], [true, false, false]);
    const after = run(s, { type: "active_speaker", participant_id: "c5" });
    assert.equal(tileMarks(after, "c9").active, false);
    assert.equal(tileMarks(after, "c5").active, true);
  });

  test("the wall flags a link only when poor; the tiles flag every rating", () => {
    const s = run(room(), {
      type: "link_quality",
      links: [link("c1", "good"), link("c2", "fair"), link("c3", "poor"), link("nobody", "poor")],
    });
    assert.deepEqual(flagKinds(tileMarks(s, "c1"), { wall: true }), ["muted"]);
    assert.deepEqual(flagKinds(tileMarks(s, "c2"), { wall: true }), ["muted"]);
    assert.deepEqual(flagKinds(tileMarks(s, "c3"), { wall: true }), ["link", "muted"]);
    assert.equal(tileMarks(s, "c3").link.rtt_ms, 420);
    assert.deepEqual(flagKinds(tileMarks(s, "c1")), ["link", "muted"]);
    assert.equal(tileMarks(s, "nobody").link, null); // a line of someone not in the room is ignored
  });

  test("a tile flags its paused video; a wall thumbnail never does", () => {
    const marks = tileMarks(room(), "c1");
    assert.deepEqual(flagKinds(marks, { paused: true }), ["paused", "muted"]);
    assert.deepEqual(flagKinds(marks, { wall: true, paused: true }), ["muted"]);
  });

  test("a commune that left leaves the hand queue and carries no marks", () => {
    const s = run(room(), raise(COMMUNES[8]), { type: "participant_left", participant_id: "c8", reason: "left" });
    assert.deepEqual(tileMarks(s, "c8"), { active: false, floor: false, speaking: false, hand: null, muted: false, link: null });
  });
});

describe("the people tab's search", () => {
  const shown = (query, people = [CHAIR, ...COMMUNES, CHUMO]) =>
    people.filter((p) => foldedMatch(personSearchText(p), fold(query.trim()))).map((p) => p.unit_name);

  test("a name typed without accents finds the accented unit", () => {
    assert.deepEqual(shown("chu mo"), ["UBND xã Chư Mố"]);
    assert.deepEqual(shown("CHƯ MỐ"), ["UBND xã Chư Mố"]);
    assert.deepEqual(shown("mo chu"), ["UBND xã Chư Mố"]);
  });

  test("the person's name and login are searched too", () => {
    assert.deepEqual(shown("van duc"), ["UBND xã Chư Mố"]);
    assert.deepEqual(shown("gl-chumo"), ["UBND xã Chư Mố"]);
  });

  test("every word must occur; a blank search shows all 137", () => {
    assert.deepEqual(shown("xa so 134"), ["UBND xã Số 134"]);
    // "13" is in Số 13, 113 (its login gl-113) and 130-134
    assert.deepEqual(shown("so 13"), [
      "UBND xã Số 13",
      "UBND xã Số 113",
      "UBND xã Số 130",
      "UBND xã Số 131",
      "UBND xã Số 132",
      "UBND xã Số 133",
      "UBND xã Số 134",
    ]);
    assert.deepEqual(shown("chu 13"), []);
    assert.equal(shown("").length, 137);
    assert.equal(shown("   ").length, 137);
  });
});
