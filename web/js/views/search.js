// Search across transcripts, minutes and tasks: filters, highlighted snippets, play from the second found.
import { api, isMissingRoute } from "../api.js";
import { clock, h, marked, mount } from "../dom.js";
import { formatDate, formatDateTime, t } from "../i18n.js";
import { dateInput, parseDmy } from "../vnforms.js";

const KINDS = ["meeting", "segment", "minutes", "task"];

function flatten(nodes, out = []) {
  for (const n of nodes) {
    out.push(n);
    flatten(n.children || [], out);
  }
  return out;
}

export async function render({ main, query, navigate }) {
  const units = flatten((await api.get("/api/units")).units);
  const meetings = await api.get("/api/meetings").catch(() => []);
  const q = h("input#q", { type: "search", value: query.get("q") || "", required: true, "aria-label": t("search.query"), placeholder: t("search.placeholder") });
  const from = dateInput("from", query.get("from") || "", t("search.from"));
  const to = dateInput("to", query.get("to") || "", t("search.to"));
  const kind = h("select#kind", { "aria-label": t("search.kind") }, h("option", { value: "" }, t("search.all_kinds")),
    KINDS.map((k) => h("option", { value: k, selected: k === query.get("kind") }, t("search.kind." + k))));
  const error = h("div.alert.error", { role: "alert", hidden: true });
  const unit = h("select#unit", { "aria-label": t("search.unit") }, h("option", { value: "" }, t("search.all_units")),
    units.map((u) => h("option", { value: u.code, selected: u.code === query.get("unit") }, u.name)));
  const meeting = h("select#meeting", { "aria-label": t("search.meeting") }, h("option", { value: "" }, t("search.all_meetings")),
    meetings.map((m) => h("option", { value: String(m.id), selected: String(m.id) === query.get("meeting") },
      `${m.title} · ${formatDateTime(m.started_at || m.starts_at)}`)));
  const results = h("div.search-results", { "data-testid": "search-results", "aria-live": "polite" });
  const titles = new Map(meetings.map((m) => [m.id, m.title]));
  const unitNames = new Map(units.map((u) => [u.code, u.name]));

  function onSubmit(event) {
    event.preventDefault();
    error.hidden = true;
    const p = new URLSearchParams();
    for (const [key, el] of [["q", q], ["unit", unit], ["meeting", meeting], ["kind", kind]]) if (el.value.trim()) p.set(key, el.value.trim());
    for (const [key, el] of [["from", from], ["to", to]]) {
      if (!el.value.trim()) continue;
      const iso = parseDmy(el.value);
      if (!iso) {
        error.textContent = t("date.invalid");
        error.hidden = false;
        el.setAttribute("aria-invalid", "true");
        el.focus();
        return;
      }
      p.set(key, iso);
    }
    navigate("/search?" + p.toString());
  }

  function hitView(hit) {
    const title = hit.meeting_title || titles.get(hit.meeting_id) || t("search.meeting_n", { id: hit.meeting_id });
    const isSegment = hit.kind === "segment" && hit.start !== undefined && hit.start !== null;
    const href = isSegment ? `#/meetings/${hit.meeting_id}?t=${Number(hit.start).toFixed(2)}`
      : hit.kind === "task" ? "#/tasks" : hit.kind === "meeting" ? "#/meetings" : `#/meetings/${hit.meeting_id}`;
    return h("li.hit", { "data-kind": hit.kind },
      h("div.hit-head", {},
        h("span.badge.kind", {}, t("search.kind." + hit.kind)),
        h("a.strong", { href }, title),
        hit.unit ? h("span.small.muted", {}, " · ", unitNames.get(hit.unit) || hit.unit) : null,
        hit.speaker ? h("span.small.muted", {}, " · ", hit.speaker) : null,
        hit.day ? h("span.small.muted", {}, " · ", formatDate(hit.day)) : null,
        isSegment ? h("span.small.muted", {}, " · ", clock(hit.start)) : null),
      h("p.snippet", {}, marked(hit.snippet || "")),
      isSegment ? h("a.btn.small.play", { href, "aria-label": t("search.play_at", { at: clock(hit.start), title }) }, "▶ ", t("search.play_from", { at: clock(hit.start) })) : null);
  }

  mount(main,
    h("div.page-head", {}, h("h1", {}, t("nav.search"))),
    h("form.card.search-form", { onsubmit: onSubmit, role: "search", "aria-label": t("nav.search"), novalidate: true },
      error,
      h("div.search-query", {}, h("div.field", {}, h("label", { for: "q" }, t("search.query")), q)),
      h("div.search-filters", { role: "group", "aria-label": t("search.filters") },
        h("div.field", {}, h("label", { for: "from" }, t("search.from")), from),
        h("div.field", {}, h("label", { for: "to" }, t("search.to")), to),
        h("div.field", {}, h("label", { for: "unit" }, t("search.unit")), unit),
        h("div.field", {}, h("label", { for: "meeting" }, t("search.meeting")), meeting),
        h("div.field", {}, h("label", { for: "kind" }, t("search.kind")), kind)),
      h("div.form-actions", {}, h("button.btn.primary", { type: "submit", "aria-label": t("search.submit") }, t("search.submit")))),
    results);
  q.focus();

  if (!query.get("q")) return;
  mount(results, h("p.muted", {}, t("common.loading")));
  try {
    const data = await api.get("/api/search?" + query.toString());
    const hits = Array.isArray(data) ? data : data.hits || data.results || [];
    mount(results, h("p.small.muted", {}, t("search.count", { n: hits.length })),
      hits.length ? h("ol.hits.card", {}, hits.map(hitView)) : h("p.empty", {}, t("search.none")));
  } catch (err) {
    mount(results, h("div.alert.error", { role: "alert" }, isMissingRoute(err) ? t("search.unavailable") : err.message));
  }
}
