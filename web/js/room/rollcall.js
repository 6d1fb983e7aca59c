// The chair's roll-call of the connection points, sized for a province's 135 units: a search that ignores
// Vietnamese accents ("chu mo" finds "Chư Mố"), chips that filter by status with live counts, and a table
// updated in place — a roll-call entry rewrites its own row only, and nothing else in the room touches it.
import { h, mount } from "../dom.js";
import { fold } from "../fold.js";
import { formatDateTime, t } from "../i18n.js";
import { rollCallCounts, rollRowShown } from "./state.js";

export const ROLL_STATUSES = ["present_online", "present_in_person", "absent", "not_called"];
const FILTERS = ["all", ...ROLL_STATUSES];

/** What a row shows, as one string: a row whose signature did not change is not written again. */
function signature(e) {
  return [e.confirmed, e.status, e.reason, e.pending ? 1 : 0, e.status_at || ""].join("\u0001");
}

/**
 * The roll-call panel. Rows are kept per unit; a select or reason field that has the focus is never
 * rewritten, so a reason being typed survives every other event of the meeting. Under a status filter, a row
 * the chair just marked stays in view (it would otherwise jump away under the pointer) until the filter or
 * the search changes. rows: rollCallRows(state); actions: {set(unit, status, reason), draft(…), discard(unit)}.
 */
export class RollCallView {
  constructor(container, actions) {
    this.actions = actions;
    this.rows = new Map(); // unit → {tr, dot, at, select, reason, name, sig, confirmed}
    this.filter = "all";
    this.query = "";
    this.kept = new Set(); // units marked under the current filter and search: they stay shown
    this.search = h("input.roll-search", {
      type: "search",
      autocomplete: "off",
      placeholder: t("roll.search"),
      "aria-label": t("roll.search"),
      "data-testid": "roll-search",
    });
    this.search.addEventListener("input", () => {
      this.query = fold(this.search.value.trim());
      this.kept.clear();
      this._filter();
    });
    this.chips = new Map(
      FILTERS.map((f) => [
        f,
        h("button.chip", { type: "button", "data-filter": f, "aria-pressed": String(f === "all"), onclick: () => this.choose(f) }),
      ]),
    );
    this.shown = h("p.small.muted.roll-shown", { "data-testid": "roll-shown", role: "status", "aria-live": "polite" });
    this.tbody = h("tbody");
    mount(
      container,
      h(
        "div.roll-tools",
        {},
        this.search,
        h("div.chips", { role: "group", "aria-label": t("roll.filters"), "data-testid": "roll-filters" }, [...this.chips.values()]),
      ),
      this.shown,
      h(
        "table.table.compact.roll-table",
        { "aria-label": t("roll.title") },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("roll.unit")), h("th", { scope: "col" }, t("roll.status")))),
        this.tbody,
      ),
    );
  }

  /** Show only the units of one status ("all": every unit). */
  choose(filter) {
    this.filter = filter;
    this.kept.clear();
    for (const [f, chip] of this.chips) chip.setAttribute("aria-pressed", String(f === filter));
    this._filter();
  }

  _row(e) {
    const { actions } = this;
    const select = h(
      "select",
      { "aria-label": t("roll.status_for", { unit: e.unit_name }), "data-unit": e.unit },
      ROLL_STATUSES.map((s) => h("option", { value: s }, t("roll." + s))),
    );
    const reason = h("input.reason", {
      placeholder: t("roll.reason"),
      maxlength: 500,
      "aria-label": t("roll.reason_for", { unit: e.unit_name }),
    });
    const keep = () => {
      if (this.filter !== "all") this.kept.add(e.unit);
    };
    select.addEventListener("change", () => {
      keep();
      if (select.value === "absent") {
        actions.draft(e.unit, "absent", reason.value);
        reason.hidden = false;
        reason.focus();
      } else {
        actions.discard(e.unit);
        actions.set(e.unit, select.value, "");
      }
    });
    reason.addEventListener("input", () => actions.draft(e.unit, "absent", reason.value));
    const save = () => {
      if (select.value === "absent") actions.set(e.unit, "absent", reason.value.trim());
    };
    reason.addEventListener("change", save);
    reason.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") save();
    });
    const dot = h("span.dot", { "aria-hidden": "true" });
    const at = h("div.small.muted");
    const tr = h("tr", { "data-unit": e.unit }, h("td", {}, h("div", {}, dot, e.unit_name), at), h("td", {}, select, reason));
    return { tr, dot, at, select, reason, name: fold(e.unit_name), sig: "", confirmed: e.confirmed };
  }

  /** Write one row from its entry; only what differs is written, and never a field that has the focus. */
  _write(row, e, focused) {
    const sig = signature(e);
    if (row.sig !== sig) {
      row.sig = sig;
      row.confirmed = e.confirmed;
      row.tr.dataset.status = e.confirmed; // what the server holds; a pending edit is marked apart
      row.tr.dataset.pending = e.pending ? "1" : "";
      row.dot.className = `dot roll-${e.confirmed}`;
      const at = e.status_at ? formatDateTime(e.status_at) : "";
      if (row.at.textContent !== at) row.at.textContent = at;
    }
    if (focused !== row.select && row.select.value !== e.status) row.select.value = e.status;
    if (focused !== row.reason && row.reason.value !== e.reason) row.reason.value = e.reason;
    const hidden = e.status !== "absent" && focused !== row.reason;
    if (row.reason.hidden !== hidden) row.reason.hidden = hidden;
  }

  update(rows) {
    const focused = typeof document !== "undefined" ? document.activeElement : null;
    const units = new Set(rows.map((e) => e.unit));
    for (const [unit, row] of this.rows) {
      if (!units.has(unit)) {
        row.tr.remove();
        this.rows.delete(unit);
      }
    }
    const children = this.tbody.children;
    rows.forEach((e, i) => {
      let row = this.rows.get(e.unit);
      if (!row) {
        row = this._row(e);
        this.rows.set(e.unit, row);
      }
      if (children[i] !== row.tr) this.tbody.insertBefore(row.tr, children[i] || null);
      this._write(row, e, focused);
    });
    const counts = rollCallCounts(rows.map((e) => ({ status: e.confirmed })));
    for (const [f, chip] of this.chips) {
      const n = f === "all" ? rows.length : counts[f];
      const text = `${t("roll.filter_" + f)} (${n})`;
      if (chip.textContent !== text) chip.textContent = text;
    }
    this._filter();
  }

  /** Hide the rows outside the search and the filter (a row holding the focus, or kept, stays). */
  _filter() {
    const focused = typeof document !== "undefined" ? document.activeElement : null;
    let shown = 0;
    for (const [unit, row] of this.rows) {
      const visible =
        rollRowShown({ name: row.name, status: row.confirmed }, this.query, this.filter) ||
        this.kept.has(unit) ||
        (focused !== null && row.tr.contains(focused));
      if (row.tr.hidden === visible) row.tr.hidden = !visible;
      if (visible) shown += 1;
    }
    const text = shown ? t("roll.shown", { n: shown, total: this.rows.size }) : t("roll.none_match");
    if (this.shown.textContent !== text) this.shown.textContent = text;
  }
}
