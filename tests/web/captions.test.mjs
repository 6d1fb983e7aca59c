// Live captions in the room's reducer (web/js/room/state.js, issue 21 item 2): the "Phụ đề" toggle, `caption`
// messages as docs/contract.md gives them (partial ones replace the unit's open line, final ones fix it), at
// most two lines each with its unit's Vietnamese name, the toggle kept across a reconnect. Runs under
// `node --test` (no DOM).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { apply, CAPTION_LINES, initialState, unitNameByCode } from "../../web/js/room/state.js";
import { person, run, welcome as welcomeTo } from "./fixtures.mjs";

const CHAIR = person("u1", "IAPA", "UBND huyện Ia Pa", { role: "chair", is_chair_unit: true, server_muted: false });
const CHUMO = person("u3", "CHUMO", "UBND xã Chư Mố");
const CHURANG = person("u4", "CHURANG", "UBND xã Chư Răng");
const ROLL = [
  { unit: "CHUMO", unit_name: "UBND xã Chư Mố", status: "present_online", reason: "", status_at: null },
  { unit: "IATUL", unit_name: "UBND xã Ia Tul", status: "not_called", reason: "", status_at: null },
];

// as the meeting's welcome has it: the roll call started, not recording
const welcome = (you, others) => welcomeTo(you, others, { roll_call: ROLL });

let clock = 10;
function caption(unit, text, final, username = unit.toLowerCase()) {
  const start = clock;
  clock += 2;
  return { type: "caption", unit, username, text, start, end: clock, final };
}

const room = () => run(initialState({ role: "chair" }), welcome(CHAIR, [CHUMO, CHURANG]));
const on = () => run(room(), { type: "ui:captions", enabled: true });
const texts = (s) => s.captions.map((l) => `${l.unitName}: ${l.text}${l.final ? "" : "…"}`);

describe("live captions", () => {
  test("off by default: captions that arrive are not shown", () => {
    const s = run(room(), caption("CHUMO", "Xã Chư Mố báo cáo", true));
    assert.equal(s.captionsOn, false);
    assert.deepEqual(s.captions, []);
  });

  test("a partial caption opens a line, the next ones replace it, the final one fixes it", () => {
    let s = run(on(), caption("CHUMO", "Xã Chư", false));
    assert.deepEqual(texts(s), ["UBND xã Chư Mố: Xã Chư…"]);
    s = run(s, caption("CHUMO", "Xã Chư Mố báo cáo", false));
    assert.deepEqual(texts(s), ["UBND xã Chư Mố: Xã Chư Mố báo cáo…"]);
    s = run(s, caption("CHUMO", "Xã Chư Mố báo cáo tình hình.", true, "chumo"));
    assert.deepEqual(texts(s), ["UBND xã Chư Mố: Xã Chư Mố báo cáo tình hình."]);
    assert.equal(s.captions[0].username, "chumo");
    assert.equal(s.captions[0].unit, "CHUMO");
    assert.ok(s.captions[0].end > s.captions[0].start);
    // a final line stays: the unit's next words open a new line under it
    s = run(s, caption("CHUMO", "Về dịch bệnh", false));
    assert.deepEqual(texts(s), ["UBND xã Chư Mố: Xã Chư Mố báo cáo tình hình.", "UBND xã Chư Mố: Về dịch bệnh…"]);
  });

  test("at most two lines, the latest; each unit's partial replaces only its own line", () => {
    let s = run(on(), caption("CHUMO", "Câu một.", true), caption("CHUMO", "Câu hai.", true), caption("CHURANG", "Chư Răng", false));
    assert.equal(CAPTION_LINES, 2);
    assert.deepEqual(texts(s), ["UBND xã Chư Mố: Câu hai.", "UBND xã Chư Răng: Chư Răng…"]);
    s = run(s, caption("CHUMO", "Chư Mố", false));
    assert.deepEqual(texts(s), ["UBND xã Chư Răng: Chư Răng…", "UBND xã Chư Mố: Chư Mố…"]);
    s = run(s, caption("CHURANG", "Chư Răng xin phát biểu.", true));
    assert.deepEqual(texts(s), ["UBND xã Chư Răng: Chư Răng xin phát biểu.", "UBND xã Chư Mố: Chư Mố…"]);
  });

  test("an empty partial withdraws the unit's open line", () => {
    const s = run(on(), caption("CHUMO", "Câu một.", true), caption("CHURANG", "ừm", false), caption("CHURANG", "  ", false));
    assert.deepEqual(texts(s), ["UBND xã Chư Mố: Câu một."]);
  });

  test("the unit's Vietnamese name: a participant's, else the roll-call's, else the code", () => {
    const s = on();
    assert.equal(unitNameByCode(s, "CHURANG"), "UBND xã Chư Răng");
    assert.equal(unitNameByCode(s, "IATUL"), "UBND xã Ia Tul");
    assert.equal(unitNameByCode(s, "XYZ"), "XYZ");
    assert.deepEqual(texts(run(s, caption("IATUL", "Ia Tul nghe rõ.", true))), ["UBND xã Ia Tul: Ia Tul nghe rõ."]);
  });

  test("turning captions off drops the lines and ignores later captions", () => {
    let s = run(on(), caption("CHUMO", "Câu một.", true), { type: "ui:captions", enabled: false });
    assert.equal(s.captionsOn, false);
    assert.deepEqual(s.captions, []);
    s = run(s, caption("CHUMO", "Câu hai.", true));
    assert.deepEqual(s.captions, []);
  });

  test("the band's idle fade drops the lines; a fade with nothing shown changes nothing", () => {
    const s = run(on(), caption("CHUMO", "Câu một.", true), { type: "ui:captions_idle" });
    assert.deepEqual(s.captions, []);
    assert.equal(s.captionsOn, true);
    assert.equal(apply(s, { type: "ui:captions_idle" }), s);
  });

  test("the toggle survives a reconnect (welcome again), so the page asks again", () => {
    const s = run(on(), caption("CHUMO", "Câu một.", true), welcome(CHAIR, [CHUMO]));
    assert.equal(s.captionsOn, true);
    assert.deepEqual(texts(run(s, caption("CHUMO", "Câu hai.", true))), ["UBND xã Chư Mố: Câu một.", "UBND xã Chư Mố: Câu hai."]);
  });

  test("captions refused or failed for good: the toggle goes back off, with the server's words", () => {
    for (const code of ["captions_off", "captions_failed"]) {
      const s = run(on(), caption("CHUMO", "Câu một.", true), { type: "error", code, message: "Phụ đề không có." });
      assert.equal(s.captionsOn, false);
      assert.deepEqual(s.captions, []);
      assert.equal(s.notice.text, "Phụ đề không có.");
    }
    const other = run(on(), { type: "error", code: "forbidden", message: "Không được phép." });
    assert.equal(other.captionsOn, true);
  });

  test("malformed captions are ignored", () => {
    const s = on();
    assert.equal(apply(s, { type: "caption", unit: 3, text: "x" }), s);
    assert.equal(apply(s, { type: "caption", unit: "CHUMO" }), s);
  });
});
