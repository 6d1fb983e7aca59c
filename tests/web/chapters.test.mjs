// The agenda as chapters of the recording (web/js/chapters.js, issue 20 item 3): the items the chair opened in
// time order with the opening before them, as the composed MP4's chapters are made
// (server/services/video_jobs.py `chapters`), and which one is playing at a given second. Runs under
// `node --test` (no DOM).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { agendaChapters, chapterAt } from "../../web/js/chapters.js";

// as GET /api/meetings/{id} gives the agenda: in agenda order; the chair took item 3 before item 2, never item 4
const AGENDA = [
  { id: 11, title: "Báo cáo tình hình tháng 11", presenter_unit: null, starts_at_s: 12.5 },
  { id: 12, title: "Kế hoạch tháng 12", presenter_unit: "CHUMO", starts_at_s: 300 },
  { id: 13, title: "Ý kiến các xã", presenter_unit: null, starts_at_s: 95.25 },
  { id: 14, title: "Các vấn đề khác", presenter_unit: null, starts_at_s: null },
];

describe("agendaChapters", () => {
  test("the opened items in time order, the opening before the first, each ending where the next begins", () => {
    const { chapters, unplayed } = agendaChapters(AGENDA, "Khai mạc", 600);
    assert.deepEqual(chapters, [
      { id: null, title: "Khai mạc", start: 0, end: 12.5 },
      { id: 11, title: "Báo cáo tình hình tháng 11", start: 12.5, end: 95.25 },
      { id: 13, title: "Ý kiến các xã", start: 95.25, end: 300 },
      { id: 12, title: "Kế hoạch tháng 12", start: 300, end: 600 },
    ]);
    assert.deepEqual(
      unplayed.map((a) => a.id),
      [14],
    );
  });

  test("no opening when the first item starts with the recording; the last runs on while the length is unknown", () => {
    const agenda = [
      { id: 1, title: "A", starts_at_s: 0.4 },
      { id: 2, title: "B", starts_at_s: 50 },
    ];
    const { chapters } = agendaChapters(agenda, "Khai mạc");
    assert.deepEqual(
      chapters.map((c) => [c.id, c.start, c.end]),
      [
        [1, 0.4, 50],
        [2, 50, Infinity],
      ],
    );
  });

  test("an item opened after the recording ended, or at the same second as the next, is not a chapter", () => {
    const agenda = [
      { id: 1, title: "A", starts_at_s: 10 },
      { id: 2, title: "B", starts_at_s: 40 },
      { id: 3, title: "C", starts_at_s: 40 },
      { id: 4, title: "D", starts_at_s: 120 },
    ];
    const { chapters, unplayed } = agendaChapters(agenda, "Khai mạc", 100);
    assert.deepEqual(
      chapters.map((c) => [c.id, c.start, c.end]),
      [
        [null, 0, 10],
        [1, 10, 40],
        [3, 40, 100],
      ],
    );
    assert.deepEqual(
      unplayed.map((a) => a.id),
      [2, 4],
    );
  });

  test("a meeting whose agenda was never moved has no chapters", () => {
    assert.deepEqual(
      agendaChapters(
        AGENDA.map((a) => ({ ...a, starts_at_s: null })),
        "Khai mạc",
        600,
      ).chapters,
      [],
    );
    assert.deepEqual(agendaChapters([], "Khai mạc", 600), { chapters: [], unplayed: [] });
  });
});

describe("chapterAt", () => {
  const { chapters } = agendaChapters(AGENDA, "Khai mạc", 600);

  test("the chapter whose start is the last at or before the second", () => {
    const at = (s) => chapterAt(chapters, s);
    assert.equal(at(0), 0);
    assert.equal(at(12.49), 0);
    assert.equal(at(12.5), 1); // a click on the item seeks exactly to its start: that item is playing
    assert.equal(at(95.24), 1);
    assert.equal(at(95.25), 2);
    assert.equal(at(299.9), 2);
    assert.equal(at(300), 3);
    assert.equal(at(599.99), 3);
  });

  test("none past the end, before the first chapter, or for a time not known", () => {
    assert.equal(chapterAt(chapters, 600), -1);
    assert.equal(chapterAt(chapters, NaN), -1);
    assert.equal(chapterAt([], 5), -1);
    const late = agendaChapters([{ id: 1, title: "A", starts_at_s: 0.3 }], "Khai mạc", 60).chapters;
    assert.equal(chapterAt(late, 0.1), -1);
    assert.equal(chapterAt(late, 0.3), 0);
  });
});
