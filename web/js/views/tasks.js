// Tasks: a per-unit board with the five workflow states coloured, deadlines, progress reports with evidence.
import { api, isMissingRoute } from "../api.js";
import { h, mount } from "../dom.js";
import { formatDate, formatDateTime, t } from "../i18n.js";
import { icon } from "../icons.js";

// The five reported statuses (computed by the server from the workflow state and the deadline), as columns.
export const TASK_STATUSES = ["not_yet_due", "in_progress", "overdue", "completed_on_time", "completed_late"];

function flatten(nodes, out = []) {
  for (const n of nodes) {
    out.push(n);
    flatten(n.children || [], out);
  }
  return out;
}

export async function render({ main, query, user, navigate }) {
  const units = flatten((await api.get("/api/units")).units);
  const chairing = ["admin", "chair", "clerk", "viewer"].includes(user.role) && !units.find((u) => u.code === user.unit && u.parent);
  const unitCode = query.get("unit") ?? (chairing ? "" : user.unit);
  const unitSelect = h("select#task-unit", { "aria-label": t("tasks.unit"), onchange: () => navigate("/tasks" + (unitSelect.value ? "?unit=" + unitSelect.value : "?unit=")) },
    h("option", { value: "" }, t("tasks.all_units")),
    units.map((u) => h("option", { value: u.code, selected: u.code === unitCode }, u.name)));
  const board = h("div.board", { "data-testid": "task-board" }, h("p.muted", {}, t("common.loading")));
  const dialog = h("dialog.report-dialog", { "aria-labelledby": "rep-h" });

  mount(main,
    h("div.page-head", {}, h("h1", {}, t("nav.tasks")),
      h("div.actions", {}, h("label", { for: "task-unit" }, t("tasks.unit")), unitSelect, h("a.btn.ghost", { href: "#/reports" }, t("nav.reports")))),
    h("div.legend", { "aria-label": t("tasks.legend") }, TASK_STATUSES.map((s) => h(`span.badge.status-${s}`, {}, t("tasks.status." + s)))),
    board, dialog);

  async function load() {
    let tasks;
    try {
      const data = await api.get("/api/tasks" + (unitCode ? "?unit=" + encodeURIComponent(unitCode) : ""));
      tasks = Array.isArray(data) ? data : data.tasks || [];
    } catch (err) {
      mount(board, h("div.alert.error", { role: "alert" }, isMissingRoute(err) ? t("tasks.unavailable") : err.message));
      return;
    }
    mount(board, TASK_STATUSES.map((status) => {
      const items = tasks.filter((x) => x.status === status).sort((a, b) => a.deadline.localeCompare(b.deadline));
      return h(`section.column.status-${status}`, { "aria-labelledby": `col-${status}`, "data-status": status },
        h("h2", { id: `col-${status}` }, t("tasks.status." + status), h("span.count", {}, ` ${items.length}`)),
        h("ul", {}, items.map(card)));
    }));
  }

  function card(task) {
    const mine = task.lead_unit === user.unit || (task.co_units || []).includes(user.unit);
    const open = !["reported_done", "accepted"].includes(task.state);
    const daysLeft = task.days_left;
    return h("li.task-card", { "data-task-id": task.id, "data-status": task.status, "data-state": task.state, tabindex: "0" },
      h("div.strong", {}, task.title),
      h("div.small", {}, task.lead_unit_name || task.lead_unit),
      h("div.small", {}, t("tasks.deadline"), ": ", h("time", { datetime: task.deadline }, formatDate(task.deadline)),
        open && daysLeft !== undefined ? h("span.muted", {}, " · ", daysLeft >= 0 ? t("tasks.days_left", { n: daysLeft }) : t("tasks.days_late", { n: -daysLeft })) : null),
      h("div", {}, h(`span.badge.state-${task.state}`, {}, t("tasks.state." + task.state))),
      task.meeting_id ? h("a.small", { href: `#/meetings/${task.meeting_id}${task.at_s != null ? "?t=" + task.at_s : ""}` }, t("tasks.from_meeting")) : null,
      (mine || user.role === "admin") && open
        ? h("button.btn.tiny", { type: "button", "aria-label": t("tasks.report_for", { title: task.title }), onclick: () => openReport(task) }, t("tasks.report"))
        : null);
  }

  function openReport(task) {
    const error = h("div.alert.error", { role: "alert", hidden: true });
    const kind = h("select#rep-kind", { name: "kind", "aria-label": t("tasks.report_kind") },
      ["progress", "done"].map((k) => h("option", { value: k }, t("tasks.kind." + k))));
    const pct = h("input#rep-pct", { name: "progress_pct", type: "number", min: 0, max: 100, value: 50, "aria-label": t("tasks.progress") });
    const note = h("textarea#rep-note", { name: "note", rows: 4, required: true, "aria-label": t("tasks.note") });
    const file = h("input#rep-file", { name: "files", type: "file", multiple: true, accept: ".pdf,.jpg,.jpeg,.png,.docx,.xlsx,.odt", "aria-label": t("tasks.evidence") });
    const history = h("ol.history.small");
    async function submit(event) {
      event.preventDefault();
      const form = new FormData();
      form.set("kind", kind.value);
      form.set("note", note.value.trim());
      form.set("progress_pct", kind.value === "done" ? "100" : pct.value);
      for (const f of file.files) form.append("files", f);
      try {
        await api.upload(`/api/tasks/${task.id}/reports`, form);
        dialog.close();
        await load();
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
      }
    }
    mount(dialog, h("form.form", { onsubmit: submit, method: "dialog" },
      h("h2#rep-h", {}, t("tasks.report_title")), h("p.strong", {}, task.title), error,
      h("div.field", {}, h("label", { for: "rep-kind" }, t("tasks.report_kind")), kind),
      h("div.field", {}, h("label", { for: "rep-pct" }, t("tasks.progress")), pct),
      h("div.field", {}, h("label", { for: "rep-note" }, t("tasks.note")), note),
      h("div.field", {}, h("label", { for: "rep-file" }, t("tasks.evidence")), file),
      history,
      h("div.form-actions", {},
        h("button.btn.ghost", { type: "button", "aria-label": t("common.cancel"), onclick: () => dialog.close() }, t("common.cancel")),
        h("button.btn.primary", { type: "submit", "aria-label": t("tasks.send_report") }, t("tasks.send_report")))));
    dialog.showModal();
    note.focus();
    api.get(`/api/tasks/${task.id}`).then((detail) => {
      mount(history, (detail.reports || []).map((r) => h("li", {}, formatDateTime(r.created_at), " · ", r.unit, " · ", t("tasks.kind." + r.kind),
        r.progress_pct != null ? ` · ${r.progress_pct}%` : "", " — ", r.note,
        (r.evidence || []).map((ev) => h("a", { href: `/api/tasks/${task.id}/evidence/${ev.id}`, "aria-label": t("tasks.evidence") + " " + (ev.filename || "") }, " ", icon("clip", 14), ev.filename || "")))));
    }).catch(() => {});
  }

  await load();
}
