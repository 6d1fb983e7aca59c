// The roll-call's search and status filter (web/js/fold.js, web/js/room/state.js rollRowShown), as a province's
// chair uses them: Vietnamese names found without their accents, and the counts per status that the chips show.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { fold } from "../../web/js/fold.js";
import { initialState, rollCallCounts, rollCallRows, rollRowShown } from "../../web/js/room/state.js";
import { person, run, welcome } from "./fixtures.mjs";

const NAMES = ["UBND xã Chư Mố", "UBND xã Đak Đoa", "UBND phường Quy Nhơn", "UBND phường Quy Nhơn Đông", "UBND xã Phù Mỹ Bắc"];
const row = (name, status = "not_called") => ({ name: fold(name), status });
const found = (query, filter = "all", rows = NAMES.map((n) => row(n))) =>
  NAMES.filter((_, i) => rollRowShown(rows[i], fold(query), filter));

describe("fold", () => {
  test("drops Vietnamese accents and lower-cases, đ as d", () => {
    assert.equal(fold("UBND xã Chư Mố"), "ubnd xa chu mo");
    assert.equal(fold("Đak Đoa"), "dak doa");
    assert.equal(fold("Phù Mỹ Bắc"), "phu my bac");
    assert.equal(fold("Ia Púch"), "ia puch");
  });
  test("text typed in composed or decomposed form folds alike", () => {
    assert.equal(fold("Chư Mố".normalize("NFC")), fold("Chư Mố".normalize("NFD")));
  });
  test("null and numbers are text", () => {
    assert.equal(fold(null), "");
    assert.equal(fold(135), "135");
  });
});

describe("rollRowShown", () => {
  test("a search without accents finds the accented name", () => {
    assert.deepEqual(found("chu mo"), ["UBND xã Chư Mố"]);
    assert.deepEqual(found("dak doa"), ["UBND xã Đak Đoa"]);
  });
  test("every word must occur, in any order", () => {
    assert.deepEqual(found("quy nhon"), ["UBND phường Quy Nhơn", "UBND phường Quy Nhơn Đông"]);
    assert.deepEqual(found("dong quy"), ["UBND phường Quy Nhơn Đông"]);
    assert.deepEqual(found("quy bac"), []);
  });
  test("an empty or blank search shows every row", () => {
    assert.equal(found("").length, NAMES.length);
    assert.equal(found("   ").length, NAMES.length);
  });
  test("a status filter keeps the rows of that status only", () => {
    const rows = [row(NAMES[0], "present_online"), row(NAMES[1], "absent"), row(NAMES[2]), row(NAMES[3]), row(NAMES[4], "absent")];
    assert.deepEqual(found("", "absent", rows), ["UBND xã Đak Đoa", "UBND xã Phù Mỹ Bắc"]);
    assert.deepEqual(found("phu", "absent", rows), ["UBND xã Phù Mỹ Bắc"]);
    assert.deepEqual(found("", "not_called", rows), ["UBND phường Quy Nhơn", "UBND phường Quy Nhơn Đông"]);
    assert.deepEqual(found("", "present_in_person", rows), []);
  });
});

describe("counts of a 135-unit roll-call", () => {
  test("the chips count what the server holds, not the chair's unsent draft", () => {
    const entries = Array.from({ length: 135 }, (_, i) => ({
      unit: `GL-${i}`,
      unit_name: `UBND xã ${i}`,
      status: i < 3 ? "present_online" : i < 5 ? "present_in_person" : i < 6 ? "absent" : "not_called",
      reason: i === 5 ? "Đi công tác" : "",
      status_at: null,
    }));
    const chair = person("u1", "GIALAI", "UBND tỉnh Gia Lai", { role: "chair", is_chair_unit: true, server_muted: false });
    let s = run(initialState({ role: "chair" }), welcome(chair, [], { roll_call: entries, can_moderate: true }));
    s = run(s, { type: "ui:roll_draft", unit: "GL-10", status: "absent", reason: "Mất đ" });
    const rows = rollCallRows(s);
    assert.equal(rows.find((e) => e.unit === "GL-10").status, "absent");
    assert.deepEqual(rollCallCounts(rows.map((e) => ({ status: e.confirmed }))), {
      present_online: 3,
      present_in_person: 2,
      absent: 1,
      not_called: 129,
    });
  });
});
