// The per-unit task scoreboard (GET /api/reports/units) as a stacked bar chart in inline SVG, and a table of every
// unit (those with no task too), for a period; downloadable as XLSX or CSV (the server writes both files).
import { api, isMissingRoute } from "../api.js";
import { h, mount } from "../dom.js";
import { formatDate, formatPercent, t } from "../i18n.js";
import { dateInput, parseDmy } from "../vnforms.js";

// The four counts government reports use, in the order they are stacked (field name → colour class).
export const SERIES = [
  { key: "completed_on_time", cls: "s-ontime" },
  { key: "completed_late", cls: "s-late" },
  { key: "in_progress", cls: "s-open" },
  { key: "overdue", cls: "s-overdue" },
];

const SVG_NS = "http://www.w3.org/2000/svg";
const ROW_H = 26;
const LABEL_W = 170;
const CHART_W = 640;
const BAR_W = CHART_W - LABEL_W - 60;

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function count(row, key) {
  return Number(row[key] ?? (row.counts && row.counts[key]) ?? 0);
}

export function chart(rows) {
  const max = Math.max(1, ...rows.map((r) => SERIES.reduce((s, x) => s + count(r, x.key), 0)));
  const height = rows.length * ROW_H + 30;
  const root = svg("svg", { viewBox: `0 0 ${CHART_W} ${height}`, width: "100%", role: "img", "aria-label": t("score.chart"), class: "chart" });
  root.append(svg("title", {}, t("score.chart")));
  rows.forEach((row, i) => {
    const y = i * ROW_H + 4;
    root.append(svg("text", { x: LABEL_W - 8, y: y + ROW_H / 2 + 1, "text-anchor": "end", class: "chart-label" }, row.unit_name || row.unit));
    let x = LABEL_W;
    for (const s of SERIES) {
      const n = count(row, s.key);
      if (!n) continue;
      const w = (n / max) * BAR_W;
      root.append(svg("rect", { x, y: y + 3, width: Math.max(w, 1), height: ROW_H - 8, class: s.cls, "data-series": s.key },
        svg("title", {}, `${row.unit_name || row.unit} — ${t("score." + s.key)}: ${n}`)));
      if (w > 18) root.append(svg("text", { x: x + w / 2, y: y + ROW_H / 2 + 1, "text-anchor": "middle", class: "chart-value" }, n));
      x += w;
    }
    const total = SERIES.reduce((sum, s) => sum + count(row, s.key), 0);
    root.append(svg("text", { x: x + 6, y: y + ROW_H / 2 + 1, class: "chart-total" }, total));
  });
  return root;
}

export async function render({ main, query, navigate }) {
  const body = h("div", {}, h("p.muted", {}, t("common.loading")));
  const error = h("div.alert.error", { role: "alert", hidden: true });
  const from = dateInput("sc-from", query.get("from") || "", t("score.from"));
  const to = dateInput("sc-to", query.get("to") || "", t("score.to"));
  const params = new URLSearchParams();
  for (const key of ["from", "to"]) if (query.get(key)) params.set(key, query.get(key));
  const link = (format) => `/api/reports/units?${new URLSearchParams([...params, ["format", format]])}`;

  function onPeriod(event) {
    event.preventDefault();
    error.hidden = true;
    const next = new URLSearchParams();
    for (const [key, input] of [["from", from], ["to", to]]) {
      if (!input.value.trim()) continue;
      const iso = parseDmy(input.value);
      if (!iso) {
        error.textContent = t("date.invalid");
        error.hidden = false;
        input.setAttribute("aria-invalid", "true");
        input.focus();
        return;
      }
      next.set(key, iso);
    }
    navigate("/reports" + (next.toString() ? "?" + next : ""));
  }

  mount(main,
    h("div.page-head", {}, h("h1", {}, t("nav.reports")),
      h("div.actions", { role: "group", "aria-label": t("common.actions") },
        h("a.btn.small", { href: link("xlsx"), download: "", "data-testid": "export-xlsx", "aria-label": t("score.export_xlsx_aria") }, "⤓ ", t("score.export_xlsx")),
        h("a.btn.small", { href: link("csv"), download: "", "data-testid": "export-csv", "aria-label": t("score.export_csv_aria") }, "⤓ ", t("score.export_csv")))),
    h("form.card.period-form", { onsubmit: onPeriod, "aria-label": t("score.apply") },
      error,
      h("div.period-fields", {},
        h("div.field", {}, h("label", { for: "sc-from" }, t("score.from")), from),
        h("div.field", {}, h("label", { for: "sc-to" }, t("score.to")), to),
        h("button.btn.primary", { type: "submit" }, t("score.apply")))),
    body);
  let data;
  try {
    data = await api.get("/api/reports/units" + (params.toString() ? "?" + params : ""));
  } catch (err) {
    mount(body, h("div.alert.error", { role: "alert" }, isMissingRoute(err) ? t("score.unavailable") : err.message));
    return;
  }
  const rows = data.rows || [];
  if (!from.value) from.value = formatDate(data.from_date);
  if (!to.value) to.value = formatDate(data.to_date);
  const withTasks = rows.filter((r) => SERIES.some((s) => count(r, s.key)));
  const totalRow = data.total;
  mount(body,
    h("p.small.muted", { "data-testid": "score-period" },
      t("score.period", { from: formatDate(data.from_date), to: formatDate(data.to_date), as_of: formatDate(data.as_of) })),
    h("section.card", { "aria-labelledby": "sc-h" },
      h("h2#sc-h", {}, t("score.chart")),
      h("div.legend", {}, SERIES.map((s) => h("span.legend-item", {}, h(`span.swatch.${s.cls}`, { "aria-hidden": "true" }), t("score." + s.key)))),
      withTasks.length ? h("div.chart-scroll", {}, chart(withTasks)) : h("p.empty", {}, t("score.none"))),
    h("section.card", { "aria-labelledby": "sc-t" },
      h("h2#sc-t", {}, t("score.table")),
      h("div.table-scroll", {}, h("table.table.score-table", {},
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("roll.unit")), h("th.num", { scope: "col" }, t("score.assigned")),
          SERIES.map((s) => h("th.num", { scope: "col" }, t("score." + s.key))),
          h("th.num", { scope: "col" }, t("score.overdue_share")))),
        h("tbody", {}, rows.map((r) => scoreRow(r, r.unit))),
        totalRow ? h("tfoot", {}, scoreRow({ ...totalRow, unit_name: t("score.total") }, "total")) : null))));
}

function scoreRow(r, key) {
  const total = Number(r.assigned ?? SERIES.reduce((sum, s) => sum + count(r, s.key), 0));
  const pct = r.overdue_pct ?? (total ? (100 * count(r, "overdue")) / total : 0);
  return h("tr", { "data-unit": key }, h("th", { scope: "row" }, r.unit_name || r.unit), h("td.num", {}, total),
    SERIES.map((s) => h("td.num", {}, count(r, s.key))), h("td.num", {}, formatPercent(pct)));
}
