// The meeting's agenda as chapters of its recording (issue 20 item 3): each item the chair opened has its start on
// the meeting clock (`starts_at_s` in GET /api/meetings/{id}), the clock the recording and the composed video
// share. The same rule as the MP4's chapters (server/services/video_jobs.py `chapters`): in time order, the
// opening before the first item, each chapter ending where the next begins. Pure (no DOM): tests/web/.

export const OPENING_GAP_S = 0.5;

/**
 * `agenda`: the meeting's items ({id, title, starts_at_s}); `opening`: the title of the stretch before the first
 * item; `length`: the recording's length in seconds when known (items opened after it are not in it).
 * Returns {chapters: [{id, title, start, end}] in time order (the opening's id null), unplayed: items never
 * opened (or opened after the recording ended), in agenda order}.
 */
export function agendaChapters(agenda, opening, length = Infinity) {
  const end = Number.isFinite(length) && length > 0 ? length : Infinity;
  const items = agenda || [];
  const timed = items.filter((a) => typeof a.starts_at_s === "number" && Number.isFinite(a.starts_at_s) && a.starts_at_s < end);
  timed.sort((a, b) => a.starts_at_s - b.starts_at_s);
  const marks = timed.map((a) => ({ id: a.id, title: a.title, start: Math.max(0, a.starts_at_s) }));
  if (marks.length && marks[0].start > OPENING_GAP_S) marks.unshift({ id: null, title: opening, start: 0 });
  const chapters = [];
  marks.forEach((mark, i) => {
    const until = i + 1 < marks.length ? marks[i + 1].start : end;
    if (until > mark.start) chapters.push({ ...mark, end: until }); // one opened at the same second as the next never played
  });
  const played = new Set(chapters.map((c) => c.id));
  return { chapters, unplayed: items.filter((a) => !played.has(a.id)) };
}

/** The index of the chapter playing at `seconds` (-1: none, e.g. past the end or before any chapter). */
export function chapterAt(chapters, seconds) {
  if (!Number.isFinite(seconds)) return -1;
  let lo = 0;
  let hi = chapters.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (chapters[mid].start <= seconds) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found >= 0 && seconds < chapters[found].end ? found : -1;
}
