// A read-only preview of the minutes (form 1.9 of Decree 30/2020) from the document model the server returns:
// what the chair approves is what this shows.
import { clock, h } from "../dom.js";
import { formatDateTime, t } from "../i18n.js";
import "./minutes_strings.js";

const ATTENDANCE = {
  present_online: "roll.present_online",
  present_in_person: "roll.present_in_person",
  absent: "roll.absent",
  not_called: "roll.not_called",
};

function person(p) {
  if (!p || !p.name) return "—";
  return p.position ? `${p.name} - ${p.position}` : p.name;
}

/** "Số: 01/BB-UBND" as the form prints it (numbers below 10 with a leading zero), blank before numbering. */
function numberLine(number) {
  const n = number.number;
  return `Số: ${n == null ? "\u2002".repeat(5) : String(n).padStart(2, "0")}/${number.code || "BB"}`;
}

/** The clerk's text of an agenda item as the documents print it: one paragraph a line, "- " list items. */
export function contentBlocks(text) {
  const blocks = [];
  let list = null;
  for (const raw of String(text || "").split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    if ("-*+•".includes(line[0])) {
      if (!list) blocks.push((list = h("ul.doc-list", {})));
      list.append(h("li", {}, line.slice(1).trim()));
    } else {
      list = null;
      blocks.push(h("p", {}, line));
    }
  }
  return blocks;
}

export function minutesPreview(doc) {
  if (!doc || !doc.title) return null;
  const body = doc.issuing_body || {};
  const number = doc.number || {};
  return h("article.minutes-preview", { "aria-label": t("minutes.preview") },
    h("div.doc-heading", {},
      h("div.doc-left", {}, body.parent ? h("div", {}, body.parent.toUpperCase()) : null, h("div.strong", {}, (body.name || "").toUpperCase()),
        h("div", { "data-testid": "minutes-number" }, numberLine(number))),
      h("div.doc-right", {}, h("div.strong", {}, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"), h("div.strong.underline", {}, "Độc lập - Tự do - Hạnh phúc"))),
    number.number == null ? h("p.doc-draft-mark.strong", { "data-testid": "draft-mark" }, t("minutes.draft_mark")) : null,
    h("h3.doc-title", {}, "BIÊN BẢN"),
    h("p.doc-subtitle", {}, doc.title),
    h("p", {}, t("minutes.time"), ": ", formatDateTime(doc.started_at), " — ", formatDateTime(doc.ended_at)),
    h("p", {}, t("minutes.place"), ": ", doc.location || ""),
    h("p", {}, t("minutes.chair"), ": ", person(doc.chair)),
    h("p", {}, t("minutes.clerk"), ": ", person(doc.clerk)),
    h("p.strong", {}, t("minutes.attendees"), ":"),
    h("ul", {}, (doc.attendees || []).map((a) => h("li", {}, a.unit_name, " — ", t(ATTENDANCE[a.status] || a.status),
      a.absence_reason ? ` (${a.absence_reason})` : "",
      (a.representatives || []).length ? ` — ${a.representatives.map(person).join("; ")}` : ""))),
    h("p.strong", {}, t("minutes.content"), ":"),
    h("ol", {}, (doc.agenda || []).map((item) => h("li", {}, h("span.strong", {}, item.title),
      h("div.doc-item-content", { "data-testid": "minutes-item-content" }, contentBlocks(item.content)),
      h("ul", {}, (item.contributions || []).map((c) => h("li", {}, h("span.strong", {}, c.unit_name), ": ", c.text,
        c.recording_offset_s != null ? h("span.small.muted", {}, ` [${clock(c.recording_offset_s)}]`) : null)))))),
    (doc.conclusions || []).length ? h("div", {}, h("p.strong", {}, t("minutes.conclusions"), ":"),
      h("ol", {}, doc.conclusions.map((c) => h("li", {}, c.text, c.assignee_unit ? ` — ${c.assignee_unit}` : "")))) : null,
    doc.closing_note ? h("p", {}, doc.closing_note) : null,
    h("p", {}, "Cuộc họp kết thúc vào ", formatDateTime(doc.ended_at), "./."),
    h("div.doc-signatures", {},
      h("div", {}, h("div.strong", {}, "THƯ KÝ"), h("div.small", {}, doc.clerk_signature_note || "\u00a0"), h("div", {}, (doc.clerk || {}).name || "")),
      h("div", {}, h("div.strong", {}, "CHỦ TỌA"), h("div.small", {}, doc.chair_signature_note || "\u00a0"), h("div", {}, (doc.chair || {}).name || ""))));
}
