// The meeting room's reducer (web/js/room/state.js), imported as it is served: every server message type of
// docs/signaling.md, the local actions, and the fixes of issue 18 item 5. Runs under `node --test` (no DOM).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";

import {
  apply,
  elapsedSeconds,
  formatElapsed,
  handPosition,
  handQueue,
  initialState,
  linkOf,
  rollCallCounts,
  rollCallRows,
  screenSharer,
  shortUnitName,
  speakingNow,
  tileIds,
  unitNameOf,
  videoPaused,
  videoReduced,
} from "../../web/js/room/state.js";
import { person as personOf, run, welcome as welcomeTo } from "./fixtures.mjs";

// ---- fixtures: messages shaped as server/rooms/messages.py sends them ------------------------------------

let joinedSeq = 0;
// each one joined a second after the one before (the tiles' order)
function person(id, unit, unitName, extra = {}) {
  joinedSeq += 1;
  const joined_at = `2026-03-02T08:00:${String(joinedSeq).padStart(2, "0")}+00:00`;
  return personOf(id, unit, unitName, { joined_at, ...extra });
}

const CHAIR = person("u1", "IAPA", "UBND huyện Ia Pa", {
  role: "chair",
  is_chair_unit: true,
  server_muted: false,
  audio_muted: false,
  may_share_screen: true,
});
const CHUMO = person("u3", "CHUMO", "UBND xã Chư Mố");
const CHURANG = person("u4", "CHURANG", "UBND xã Chư Răng");
const KIMTAN = person("u5", "KIMTAN", "UBND xã Kim Tân");

function roll(unit, unitName, status = "not_called", reason = "") {
  return { unit, unit_name: unitName, status, reason, status_at: status === "not_called" ? null : "2026-03-02T08:01:00+00:00" };
}
const ROLL = [
  roll("CHUMO", "UBND xã Chư Mố", "present_online"),
  roll("CHURANG", "UBND xã Chư Răng", "present_online"),
  roll("IATUL", "UBND xã Ia Tul"),
];

// as the meeting's welcome has it: the roll call started, recording
const welcome = (you, others = [], extra = {}) => welcomeTo(you, others, { roll_call: ROLL, recording: true, ...extra });

const chairRoom = () => run(initialState({ role: "chair" }), welcome(CHAIR, [CHUMO, CHURANG]));
const communeRoom = () => run(initialState({ role: "member" }), welcome(CHUMO, [CHAIR, CHURANG]));
const updated = (p, change) => ({ type: "participant_updated", participant: { ...p, ...change } });

// every type the server sends (server/rooms/messages.py ServerMessage), each must be handled below
const SERVER_TYPES = [
  "welcome",
  "offer",
  "participant_joined",
  "participant_left",
  "participant_updated",
  "floor",
  "active_speaker",
  "roll_call",
  "roll_call_entry",
  "chat",
  "recording",
  "locked",
  "floor_control",
  "muted_by_chair",
  "removed",
  "pong",
  "meeting_ended",
  "notification",
  "error",
  "link_quality",
  "wall", // the chair's wall page (web/js/room/wall.js draws it)
  "thumbnail", // to the peer (web/js/room/peer.js pauses or resumes our thumbnail), not the room state
  "caption", // live captions (tests/web/captions.test.mjs)
  "redirect", // to the socket (web/js/room/signaling.js follows it), not the room state
  "agenda", // the agenda item the chair opened
];

describe("every server message type", () => {
  test("the list matches server/rooms/messages.py", () => {
    const source = readFileSync(new URL("../../server/rooms/messages.py", import.meta.url), "utf8");
    const union = source.slice(source.indexOf("ServerMessage = (") + "ServerMessage = (".length);
    const classes = [...union.slice(0, union.indexOf(")")).matchAll(/\b([A-Z]\w+)\b/g)].map((m) => m[1]);
    const types = classes.map((name) => {
      const body = source.slice(source.indexOf(`class ${name}(`));
      return /type: Literal\["(\w+)"\]/.exec(body)[1];
    });
    assert.deepEqual([...types].sort(), [...SERVER_TYPES].sort());
  });

  test("welcome sets the room from the server's view", () => {
    const s = run(
      initialState({ role: "chair", startedAt: "2026-03-02T08:00:00+00:00" }),
      welcome(CHAIR, [CHUMO], { floor: null, locked: true }),
    );
    assert.equal(s.me, "u1");
    assert.equal(s.meetingId, 7);
    assert.equal(s.title, "Giao ban tháng 3");
    assert.deepEqual(
      s.participants.map((p) => p.id),
      ["u1", "u3"],
    );
    assert.equal(s.locked, true);
    assert.equal(s.recording, true);
    assert.equal(s.canModerate, true);
    assert.equal(s.canEnd, true);
    assert.equal(s.micOn, true); // the chair's hall is not held closed
    assert.equal(s.rollCall.length, 3);
    assert.equal(s.startedAt, "2026-03-02T08:00:00+00:00");
  });

  test("welcome: a commune's microphone is closed, a clerk moderates but cannot end", () => {
    assert.equal(communeRoom().micOn, false);
    const clerk = run(initialState({ role: "clerk" }), welcome({ ...CHAIR, role: "clerk" }, [], { can_moderate: true }));
    assert.equal(clerk.canModerate, true);
    assert.equal(clerk.canEnd, false);
  });

  test("welcome leaves out participants that are not connected", () => {
    const s = run(initialState(), welcome(CHUMO, [{ ...CHURANG, connected: false }]));
    assert.deepEqual(
      s.participants.map((p) => p.id),
      ["u3"],
    );
  });

  test("offer keeps the labels of what this page receives", () => {
    const streams = [
      {
        mid: "0",
        participant_id: "u1",
        username: "chutri",
        unit: "IAPA",
        unit_name: "UBND huyện Ia Pa",
        kind: "audio",
        source: "microphone",
      },
      { mid: "1", participant_id: "u1", username: "chutri", unit: "IAPA", unit_name: "UBND huyện Ia Pa", kind: "video", source: "camera" },
    ];
    const s = run(communeRoom(), { type: "offer", sdp: "v=0...", streams });
    assert.deepEqual(s.streams, streams);
    assert.deepEqual(tileIds(s), ["u1"]);
  });

  test("participant_joined adds, participant_left removes", () => {
    let s = run(chairRoom(), { type: "participant_joined", participant: KIMTAN });
    assert.deepEqual(
      s.participants.map((p) => p.id),
      ["u1", "u3", "u4", "u5"],
    );
    s = run(s, { type: "participant_left", participant_id: "u5", reason: "left" });
    assert.deepEqual(
      s.participants.map((p) => p.id),
      ["u1", "u3", "u4"],
    );
    assert.equal(s.notice, null);
  });

  test("participant_left 'removed' tells everyone who was removed and clears its floor", () => {
    const s = run(
      chairRoom(),
      { type: "floor", participant_id: "u3" },
      { type: "participant_left", participant_id: "u3", reason: "removed" },
    );
    assert.equal(s.floor, null);
    assert.deepEqual(s.notice && [s.notice.key, s.notice.params], ["room.removed_other", { name: "UBND xã Chư Mố" }]);
  });

  test("removed: the chair's list of removed points, from the welcome and after each remove or readmit", () => {
    const out = {
      participant_id: "u3",
      display_name: "Cán bộ UBND xã Chư Mố",
      unit: "CHUMO",
      unit_name: "UBND xã Chư Mố",
      removed_at: "2026-03-02T08:10:00+00:00",
    };
    assert.deepEqual(initialState().removed, []);
    const reloaded = run(initialState({ role: "chair" }), welcome(CHAIR, [CHURANG], { removed: [out] }));
    assert.deepEqual(reloaded.removed, [out]);
    const s = run(
      chairRoom(),
      { type: "participant_left", participant_id: "u3", reason: "removed" },
      { type: "removed", participants: [out] },
    );
    assert.deepEqual(
      s.removed.map((r) => r.participant_id),
      ["u3"],
    );
    assert.equal(s.notice.key, "room.removed_other"); // the list adds no notice of its own
    const readmitted = run(s, { type: "removed", participants: [] });
    assert.deepEqual(readmitted.removed, []);
    assert.equal(run(readmitted, { type: "removed" }), readmitted); // malformed: unchanged
    // a welcome without the field (a commune's, or an older server's) has none
    assert.deepEqual(run(s, welcome(CHAIR, [CHURANG])).removed, []);
  });

  test("agenda: the items and the open one, from the welcome and after each move of the chair", () => {
    const items = [
      { id: 11, position: 0, title: "Báo cáo tháng 11", presenter_unit: null, starts_at_s: null },
      { id: 12, position: 1, title: "Kế hoạch tháng 12", presenter_unit: "CHUMO", starts_at_s: null },
    ];
    const s = run(initialState({ role: "chair" }), welcome(CHAIR, [CHUMO], { agenda: items, agenda_current: null }));
    assert.deepEqual(s.agenda, items);
    assert.equal(s.agendaCurrent, null);
    const opened = [items[0], { ...items[1], starts_at_s: 42.5 }];
    const moved = run(s, { type: "agenda", items: opened, current: 12 });
    assert.equal(moved.agendaCurrent, 12);
    assert.equal(moved.agenda[1].starts_at_s, 42.5);
    assert.equal(run(moved, { type: "agenda" }), moved); // malformed: unchanged
    // a welcome without the fields (an older server's) has no agenda
    const older = run(initialState(), welcome(CHUMO, [CHAIR]));
    assert.deepEqual(older.agenda, []);
    assert.equal(older.agendaCurrent, null);
  });

  test("participant_left keeps a dropped floor holder's floor (it rejoins with the same id)", () => {
    const s = run(
      chairRoom(),
      { type: "floor", participant_id: "u3" },
      { type: "participant_left", participant_id: "u3", reason: "dropped" },
    );
    assert.equal(s.floor, "u3");
    assert.equal(speakingNow(s), null);
  });

  test("participant_updated replaces the participant; about oneself it follows the server", () => {
    let s = run(communeRoom(), updated(CHURANG, { video_muted: true }));
    assert.equal(s.participants.find((p) => p.id === "u4").video_muted, true);
    s = run(s, { type: "ui:screen", on: true }, updated(CHUMO, { may_share_screen: false, hand_raised: true }));
    assert.equal(s.screenOn, false); // the chair withdrew the permission
    assert.equal(s.handUp, true);
  });

  test("participant_updated with connected false is a departure", () => {
    const s = run(chairRoom(), updated(CHUMO, { connected: false }));
    assert.deepEqual(
      s.participants.map((p) => p.id),
      ["u1", "u4"],
    );
  });

  test("floor given to oneself opens the microphone and says so", () => {
    const s = run(communeRoom(), updated(CHUMO, { server_muted: false }), { type: "floor", participant_id: "u3" });
    assert.equal(s.floor, "u3");
    assert.equal(s.micOn, true);
    assert.equal(s.notice.key, "room.floor_given");
  });

  test("floor given to another, then taken back", () => {
    let s = run(communeRoom(), { type: "floor", participant_id: "u4" });
    assert.equal(s.floor, "u4");
    assert.equal(s.micOn, false);
    s = run(s, { type: "floor", participant_id: null });
    assert.equal(s.floor, null);
  });

  test("floor_control, active_speaker, locked, recording", () => {
    let s = run(
      chairRoom(),
      { type: "floor_control", enabled: false },
      { type: "active_speaker", participant_id: "u4" },
      { type: "locked", locked: true },
    );
    assert.equal(s.floorControl, false);
    assert.equal(s.activeSpeaker, "u4");
    assert.equal(s.locked, true);
    s = run(s, { type: "recording", on: false, error: "Đĩa đầy" });
    assert.equal(s.recording, false);
    assert.deepEqual([s.notice.kind, s.notice.key, s.notice.params], ["error", "room.recording_error", { error: "Đĩa đầy" }]);
    s = run(s, { type: "active_speaker", participant_id: null });
    assert.equal(s.activeSpeaker, null);
  });

  test("roll_call replaces the entries", () => {
    const entries = [roll("CHUMO", "UBND xã Chư Mố", "present_in_person"), roll("IATUL", "UBND xã Ia Tul", "absent", "Mất điện")];
    const s = run(chairRoom(), { type: "roll_call", entries });
    assert.deepEqual(s.rollCall, entries);
    assert.deepEqual(rollCallCounts(rollCallRows(s)), { present_online: 0, present_in_person: 1, absent: 1, not_called: 0 });
  });

  test("roll_call_entry replaces one unit's entry, keeps the others, and settles its saved draft", () => {
    const entries = [roll("CHUMO", "UBND xã Chư Mố", "not_called"), roll("IATUL", "UBND xã Ia Tul", "not_called")];
    let s = run(chairRoom(), { type: "roll_call", entries });
    s = run(s, { type: "ui:roll_draft", unit: "IATUL", status: "absent", reason: "Mất điện" });
    s = run(s, { type: "ui:roll_saved", unit: "IATUL", status: "absent", reason: "Mất điện" });
    const absent = roll("IATUL", "UBND xã Ia Tul", "absent", "Mất điện");
    s = run(s, { type: "roll_call_entry", entry: absent });
    assert.deepEqual(s.rollCall, [entries[0], absent]);
    assert.equal(s.rollDrafts.IATUL, undefined);
    const kimtan = roll("KIMTAN", "UBND xã Kim Tân", "present_online");
    s = run(s, { type: "roll_call_entry", entry: kimtan });
    assert.deepEqual(s.rollCall, [entries[0], absent, kimtan]);
    assert.equal(run(s, { type: "roll_call_entry", entry: null }), s);
  });

  test("chat appends; unread counts only while the chat tab is closed", () => {
    const message = (text) => ({
      type: "chat",
      message: { participant_id: "u1", username: "chutri", unit: "IAPA", text, at: "2026-03-02T08:05:00+00:00" },
    });
    let s = run(communeRoom(), message("Đề nghị các xã gửi báo cáo"), message("trước 17 giờ"));
    assert.deepEqual(
      s.chat.map((m) => m.text),
      ["Đề nghị các xã gửi báo cáo", "trước 17 giờ"],
    );
    assert.equal(s.chatUnread, 2);
    s = run(s, { type: "ui:tab", tab: "chat" }, message("Rõ"));
    assert.equal(s.chatUnread, 0);
    assert.equal(s.chat.length, 3);
  });

  test("muted_by_chair closes one's microphone and says so", () => {
    const s = run(
      communeRoom(),
      updated(CHUMO, { server_muted: false }),
      { type: "floor", participant_id: "u3" },
      { type: "muted_by_chair" },
    );
    assert.equal(s.micOn, false);
    assert.equal(s.floor, null);
    assert.equal(s.notice.key, "room.muted_by_chair");
  });

  test("pong changes nothing", () => {
    const s = chairRoom();
    assert.equal(apply(s, { type: "pong" }), s);
  });

  test("meeting_ended ends the room; later messages change nothing", () => {
    const s = run(chairRoom(), { type: "meeting_ended" });
    assert.deepEqual(s.ended, { key: "room.ended" });
    assert.equal(apply(s, { type: "locked", locked: true }), s);
  });

  test("notification and error become notices, numbered so the same text shows twice", () => {
    const s1 = run(chairRoom(), { type: "notification", kind: "reminder", text: "Nhắc việc", data: {} });
    assert.deepEqual([s1.notice.kind, s1.notice.text], ["info", "Nhắc việc"]);
    const s2 = run(s1, { type: "error", code: "floor_required", message: "Chủ trì chưa cho phép phát biểu." });
    const s3 = run(s2, { type: "error", code: "floor_required", message: "Chủ trì chưa cho phép phát biểu." });
    assert.deepEqual([s2.notice.kind, s2.notice.text], ["error", "Chủ trì chưa cho phép phát biểu."]);
    assert.equal(s3.notice.seq, s2.notice.seq + 1);
  });

  test("unknown types and malformed messages leave the state unchanged", () => {
    const s = chairRoom();
    for (const msg of [{ type: "ice", candidate: "x" }, { type: "no_such_thing" }, { type: "ui:no_such_thing" }, {}, null, { type: 3 }]) {
      assert.equal(apply(s, msg), s);
    }
  });
});

describe("local actions", () => {
  test("a commune held closed cannot open its microphone: it is told to ask for the floor", () => {
    const s = run(communeRoom(), { type: "ui:mic", on: true });
    assert.equal(s.micOn, false);
    assert.equal(s.notice.key, "room.need_floor");
  });

  test("camera, hand, audio only, screen, tab", () => {
    const s = run(
      communeRoom(),
      { type: "ui:cam", on: false },
      { type: "ui:hand", raised: true },
      { type: "ui:audio_only", enabled: true },
      { type: "ui:screen", on: true },
      { type: "ui:tab", tab: "roll" },
    );
    assert.deepEqual([s.camOn, s.handUp, s.audioOnly, s.screenOn, s.tab], [false, true, true, true, "roll"]);
  });
});

describe("issue 18 item 5: what users hit", () => {
  test("a half-typed absence reason survives other events and roll-call updates", () => {
    let s = run(chairRoom(), { type: "ui:roll_draft", unit: "IATUL", status: "absent", reason: "Mất đi" });
    // the meeting goes on meanwhile: a unit joins (the server sends a new roll-call), people talk, chat
    s = run(
      s,
      { type: "participant_joined", participant: KIMTAN },
      { type: "active_speaker", participant_id: "u4" },
      { type: "roll_call", entries: [...ROLL, roll("KIMTAN", "UBND xã Kim Tân", "present_online")] },
    );
    let row = rollCallRows(s).find((e) => e.unit === "IATUL");
    assert.deepEqual([row.status, row.reason, row.pending, row.confirmed], ["absent", "Mất đi", true, "not_called"]);
    s = run(s, { type: "ui:roll_draft", unit: "IATUL", status: "absent", reason: "Mất điện lưới" });
    s = run(s, { type: "ui:roll_saved", unit: "IATUL", status: "absent", reason: "Mất điện lưới" });
    // a roll-call update that is not yet the confirmation keeps the text
    s = run(s, { type: "roll_call", entries: ROLL });
    row = rollCallRows(s).find((e) => e.unit === "IATUL");
    assert.deepEqual([row.status, row.reason, row.pending], ["absent", "Mất điện lưới", true]);
    // the server's confirmation ends the draft
    s = run(s, { type: "roll_call", entries: [ROLL[0], ROLL[1], roll("IATUL", "UBND xã Ia Tul", "absent", "Mất điện lưới")] });
    row = rollCallRows(s).find((e) => e.unit === "IATUL");
    assert.deepEqual([row.status, row.reason, row.pending, row.confirmed], ["absent", "Mất điện lưới", false, "absent"]);
    assert.deepEqual(s.rollDrafts, {});
  });

  test("a refused absence (the server answers with an error) keeps the reason for another try", () => {
    const s = run(
      chairRoom(),
      { type: "ui:roll_draft", unit: "IATUL", status: "absent", reason: "" },
      { type: "ui:roll_saved", unit: "IATUL", status: "absent", reason: "" },
      { type: "error", code: "bad_request", message: "Cần ghi lý do vắng." },
      { type: "roll_call", entries: ROLL },
    );
    assert.equal(rollCallRows(s).find((e) => e.unit === "IATUL").pending, true);
  });

  test("a reconnect keeps a draft until the server's roll-call confirms it", () => {
    const s = run(chairRoom(), { type: "ui:roll_draft", unit: "IATUL", status: "absent", reason: "Họp huyện ủy" }, welcome(CHAIR, [CHUMO]));
    assert.equal(rollCallRows(s).find((e) => e.unit === "IATUL").reason, "Họp huyện ủy");
  });

  test("changing the status back discards the draft", () => {
    const s = run(
      chairRoom(),
      { type: "ui:roll_draft", unit: "IATUL", status: "absent", reason: "x" },
      { type: "ui:roll_discard", unit: "IATUL" },
    );
    assert.deepEqual(s.rollDrafts, {});
    assert.equal(apply(s, { type: "ui:roll_discard", unit: "IATUL" }), s);
  });

  test("'speaking now' ends when the chair mutes the floor holder (the server sends no floor message)", () => {
    let s = run(
      chairRoom(),
      updated(CHUMO, { server_muted: false }),
      { type: "floor", participant_id: "u3" },
      updated(CHUMO, { server_muted: false, audio_muted: false }),
    );
    assert.equal(speakingNow(s), "u3");
    // mute_participant: the server clears its floor and sends only participant_updated
    s = run(s, updated(CHUMO, { server_muted: true, audio_muted: true }));
    assert.equal(s.floor, null);
    assert.equal(speakingNow(s), null);
  });

  test("'speaking now' is not shown while the floor holder's own microphone is closed", () => {
    let s = run(chairRoom(), updated(CHUMO, { server_muted: false }), { type: "floor", participant_id: "u3" });
    assert.equal(speakingNow(s), null); // given the floor, microphone not yet open
    s = run(s, updated(CHUMO, { server_muted: false, audio_muted: false }));
    assert.equal(speakingNow(s), "u3");
    s = run(s, updated(CHUMO, { server_muted: false, audio_muted: true }));
    assert.equal(s.floor, "u3"); // still holds the floor: the chair can take it back
    assert.equal(speakingNow(s), null);
  });

  test("a welcome naming a muted floor holder shows no speaker", () => {
    const s = run(initialState({ role: "chair" }), welcome(CHAIR, [CHUMO], { floor: "u3" }));
    assert.equal(s.floor, null);
  });

  test("raised hands form a queue in the order they were raised", () => {
    let s = run(chairRoom(), { type: "participant_joined", participant: KIMTAN });
    s = run(s, updated(CHURANG, { hand_raised: true }), updated(KIMTAN, { hand_raised: true }), updated(CHUMO, { hand_raised: true }));
    assert.deepEqual(
      handQueue(s).map((e) => [e.position, e.unit_name]),
      [
        [1, "UBND xã Chư Răng"],
        [2, "UBND xã Kim Tân"],
        [3, "UBND xã Chư Mố"],
      ],
    );
    // another update of a raised hand keeps its place; lowering leaves the queue; the rest move up
    s = run(s, updated(CHURANG, { hand_raised: true, video_muted: true }), updated(KIMTAN, { hand_raised: false }));
    assert.deepEqual(
      handQueue(s).map((e) => e.id),
      ["u4", "u3"],
    );
    assert.equal(handPosition(s, "u3"), 2);
    // given the floor, the server lowers the hand
    s = run(s, updated(CHURANG, { hand_raised: false, server_muted: false }), { type: "floor", participant_id: "u4" });
    assert.deepEqual(
      handQueue(s).map((e) => e.id),
      ["u3"],
    );
    // leaving takes the hand out
    s = run(s, { type: "participant_left", participant_id: "u3", reason: "left" });
    assert.deepEqual(handQueue(s), []);
  });

  test("a reconnect keeps the queue's order; hands it did not know queue by join time", () => {
    let s = run(chairRoom(), updated(CHURANG, { hand_raised: true }), updated(CHUMO, { hand_raised: true }));
    s = run(
      s,
      welcome(CHAIR, [
        { ...CHUMO, hand_raised: true },
        { ...CHURANG, hand_raised: true },
        { ...KIMTAN, hand_raised: true },
      ]),
    );
    assert.deepEqual(
      handQueue(s).map((e) => e.id),
      ["u4", "u3", "u5"],
    );
    const fresh = run(
      initialState(),
      welcome(CHAIR, [
        { ...KIMTAN, hand_raised: true },
        { ...CHUMO, hand_raised: true },
      ]),
    );
    assert.deepEqual(
      handQueue(fresh).map((e) => e.id),
      ["u3", "u5"],
    ); // CHUMO joined before KIMTAN
  });

  test("audio-only tiles tell units apart by their own names", () => {
    assert.equal(shortUnitName("UBND xã Chư Mố"), "Chư Mố");
    assert.equal(shortUnitName("UBND xã Chư Răng"), "Chư Răng");
    assert.notEqual(shortUnitName("UBND xã Chư Mố"), shortUnitName("UBND xã Chư Răng"));
    assert.equal(shortUnitName("UBND huyện Ia Pa"), "Ia Pa");
    assert.equal(shortUnitName("Ủy ban nhân dân thị trấn Phú Túc"), "Phú Túc");
    assert.equal(shortUnitName("Trung tâm Y tế"), "Trung tâm Y tế");
    assert.equal(shortUnitName(""), "?");
    // a tile whose participant info has not arrived yet takes the unit name from the offer, never the id
    const s = run(communeRoom(), {
      type: "offer",
      sdp: "v=0",
      streams: [
        {
          mid: "2",
          participant_id: "u9",
          username: "iatul",
          unit: "IATUL",
          unit_name: "UBND xã Ia Tul",
          kind: "audio",
          source: "microphone",
        },
      ],
    });
    assert.equal(unitNameOf(s, "u9"), "UBND xã Ia Tul");
    assert.equal(unitNameOf(s, "u4"), "UBND xã Chư Răng");
  });

  test("the room bar's clock counts from the meeting's start", () => {
    const start = "2026-03-02T08:00:00+00:00";
    const at = (iso) => Date.parse(iso);
    assert.equal(elapsedSeconds(start, at("2026-03-02T08:00:59.900Z")), 59);
    assert.equal(formatElapsed(elapsedSeconds(start, at("2026-03-02T08:12:05Z"))), "12:05");
    assert.equal(formatElapsed(elapsedSeconds(start, at("2026-03-02T10:03:04Z"))), "2:03:04");
    assert.equal(elapsedSeconds(start, at("2026-03-02T07:59:00Z")), 0); // a client clock behind the server's
    assert.equal(elapsedSeconds(null, Date.now()), null);
    assert.equal(formatElapsed(null), "--:--");
  });
});

describe("screen share on the stage", () => {
  const screenStream = {
    mid: "5",
    participant_id: "u3",
    username: "chumo",
    unit: "CHUMO",
    unit_name: "UBND xã Chư Mố",
    kind: "video",
    source: "screen",
  };
  test("the sharer's screen is on the stage while it shares, and never in audio-only", () => {
    let s = run(
      chairRoom(),
      { type: "offer", sdp: "v=0", streams: [screenStream] },
      updated(CHUMO, { may_share_screen: true, screen_sharing: true }),
    );
    assert.equal(screenSharer(s), "u3");
    s = run(s, { type: "ui:audio_only", enabled: true });
    assert.equal(screenSharer(s), null);
    s = run(s, { type: "ui:audio_only", enabled: false }, updated(CHUMO, { may_share_screen: false, screen_sharing: false }));
    assert.equal(screenSharer(s), null);
  });
});

describe("link quality", () => {
  const line = (pid, rating, extra = {}) => ({
    participant_id: pid,
    unit: "X",
    rating,
    rtt_ms: 40,
    loss_up_pct: 0,
    loss_down_pct: 0,
    recv_kbps: 600,
    ...extra,
  });

  test("the chair keeps every connection point's latest line; a commune its own", () => {
    let s = run(chairRoom(), { type: "link_quality", links: [line("u1", "good"), line(CHUMO.id, "fair", { rtt_ms: 180 })] });
    assert.equal(linkOf(s, CHUMO.id).rating, "fair");
    assert.equal(linkOf(s, CHUMO.id).rtt_ms, 180);
    assert.equal(linkOf(s, "u1").rating, "good");
    assert.equal(linkOf(s, CHURANG.id), null);
    s = run(s, { type: "link_quality", links: [line(CHUMO.id, "poor", { loss_up_pct: 9.5 })] });
    assert.equal(linkOf(s, CHUMO.id).rating, "poor");
    assert.equal(linkOf(s, CHUMO.id).loss_up_pct, 9.5);
    assert.equal(linkOf(s, "u1").rating, "good"); // not in this message: kept
    const commune = run(communeRoom(), { type: "link_quality", links: [line(CHUMO.id, "good")] });
    assert.equal(linkOf(commune, CHUMO.id).rating, "good");
  });

  test("lines of someone not in the room are ignored, and a leaver's line goes", () => {
    let s = run(chairRoom(), { type: "link_quality", links: [line("u99", "poor"), line(CHURANG.id, "fair")] });
    assert.equal(linkOf(s, "u99"), null);
    assert.equal(linkOf(s, CHURANG.id).rating, "fair");
    s = run(s, { type: "participant_left", participant_id: CHURANG.id, reason: "left" });
    assert.equal(linkOf(s, CHURANG.id), null);
    const same = chairRoom();
    assert.equal(apply(same, { type: "link_quality", links: "nonsense" }), same);
  });

  test("videos the server holds back to spare this page's link: from its own line only", () => {
    // Chư Mố's own line: the server pauses Chư Răng's video to it (server/media/downlink.py)
    let s = run(communeRoom(), { type: "link_quality", links: [line(CHUMO.id, "poor", { videos_paused: [CHURANG.id] })] });
    assert.equal(videoPaused(s, CHURANG.id), true);
    assert.equal(videoPaused(s, CHAIR.id), false);
    s = run(s, { type: "link_quality", links: [line(CHUMO.id, "good", { videos_paused: [] })] });
    assert.equal(videoPaused(s, CHURANG.id), false);
    // the chair sees Chư Mố's line, whose paused videos are not the chair's own
    const chair = run(chairRoom(), { type: "link_quality", links: [line(CHUMO.id, "poor", { videos_paused: [CHURANG.id] })] });
    assert.equal(videoPaused(chair, CHURANG.id), false);
    // a line from before the field existed
    assert.equal(videoPaused(run(communeRoom(), { type: "link_quality", links: [line(CHUMO.id, "good")] }), CHAIR.id), false);
  });

  test("cameras the server sends this page as their thumbnail (the lower layer): from its own line only", () => {
    let s = run(communeRoom(), { type: "link_quality", links: [line(CHUMO.id, "fair", { videos_reduced: [CHURANG.id] })] });
    assert.equal(videoReduced(s, CHURANG.id), true);
    assert.equal(videoPaused(s, CHURANG.id), false);
    assert.equal(videoReduced(s, CHAIR.id), false);
    s = run(s, { type: "link_quality", links: [line(CHUMO.id, "good", { videos_reduced: [] })] });
    assert.equal(videoReduced(s, CHURANG.id), false);
    const chair = run(chairRoom(), { type: "link_quality", links: [line(CHUMO.id, "fair", { videos_reduced: [CHURANG.id] })] });
    assert.equal(videoReduced(chair, CHURANG.id), false);
    assert.equal(videoReduced(run(communeRoom(), { type: "link_quality", links: [line(CHUMO.id, "good")] }), CHAIR.id), false);
  });
});

describe("the chair's wall", () => {
  test("a wall message is the page shown; another page replaces it", () => {
    const page = (n) => ({
      type: "wall",
      page: n,
      pages: 2,
      per_page: 1,
      total: 2,
      units: [{ participant_id: `u${n + 2}`, display_name: "", unit: "X", unit_name: "Y" }],
    });
    const s = run(chairRoom(), page(1), page(2));
    assert.equal(s.wall.page, 2);
    assert.equal(s.wall.units[0].participant_id, "u4");
  });
});
