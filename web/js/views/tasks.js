// Tasks: a per-unit board with the five workflow states coloured, deadlines, progress reports with evidence,
// and the assigning unit's review of a reported task (accept, or return with a note) with the evidence shown.
import { api, isMissingRoute } from "../api.js";
import { h, mount } from "../dom.js";
import { formatDate, formatDateTime, t } from "../i18n.js";
import { icon } from "../icons.js";
import { filePicker } from "../vnforms.js";

const INLINE_TYPES = ["application/pdf", "image/png", "image/jpeg"];

/** May this user accept or return the task: the chair or clerk of the assigning unit, or an admin. */
export function canReview(user, task) {
  return user.role === "admin" || (["chair", "clerk"].includes(user.role) && task.assigning_unit === user.unit);
}

function sizeText(n) {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1).replace(".", ",")} MB` : `${Math.max(1, Math.round(n / 1024))} KB`;
}

/** One evidence file: images shown, PDFs framed, others as a download link; always a download link. */
function evidenceView(ev) {
  const href = ev.url;
  const shown = INLINE_TYPES.includes(ev.content_type);
  return h("figure.evidence", { "data-evidence-id": ev.id },
    ev.content_type.startsWith("image/")
      ? h("img.evidence-image", { src: href + "?inline=1", alt: t("tasks.evidence_open", { name: ev.filename }), loading: "lazy" })
      : ev.content_type === "application/pdf"
        ? h("iframe.evidence-pdf", { src: href + "?inline=1", title: t("tasks.evidence_open", { name: ev.filename }) })
        : null,
    h("figcaption.small", {}, icon("clip", 14), " ",
      h("a", { href: shown ? href + "?inline=1" : href, target: shown ? "_blank" : null, rel: "noopener" }, ev.filename),
      " · ", sizeText(ev.size_bytes), " · ",
      h("a", { href, download: ev.filename, "aria-label": `${t("tasks.evidence_download")} ${ev.filename}` }, t("tasks.evidence_download"))));
}

/** The reports of a task, oldest first, each with its evidence shown inline. */
export function historyView(reports, unitNames) {
  if (!reports.length) return h("p.empty.small", {}, t("tasks.no_history"));
  return h("ol.history", {}, reports.map((r) => h("li", { "data-kind": r.kind },
    h("div.small", {}, h("span.strong", {}, t("tasks.kind." + r.kind)), " · ", unitNames.get(r.unit) || r.unit, " · ",
      formatDateTime(r.created_at), r.progress_pct != null && r.kind === "progress" ? ` · ${r.progress_pct} %` : ""),
    r.note ? h("p.history-note", {}, r.note) : null,
    (r.evidence || []).length ? h("div.evidence-list", {}, r.evidence.map(evidenceView)) : null)));
}

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
  const flash = h("div.alert.success", { role: "status", hidden: true, "data-testid": "task-flash" });
  const unitNames = new Map(units.map((u) => [u.code, u.name]));

  function say(text) {
    flash.textContent = text;
    flash.hidden = false;
  }

  mount(main,
    h("div.page-head", {}, h("h1", {}, t("nav.tasks")),
      h("div.actions", {}, h("label", { for: "task-unit" }, t("tasks.unit")), unitSelect, h("a.btn.ghost", { href: "#/reports" }, t("nav.reports")))),
    h("div.legend", { "aria-label": t("tasks.legend") }, TASK_STATUSES.map((s) => h(`span.badge.status-${s}`, {}, t("tasks.status." + s)))),
    flash, board, dialog);

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
        : null,
      task.state === "reported_done" && canReview(user, task)
        ? h("button.btn.tiny.primary", { type: "button", "aria-label": t("tasks.review_for", { title: task.title }), onclick: () => openReview(task) }, t("tasks.review"))
        : null);
  }

  function openReview(task) {
    const error = h("div.alert.error", { role: "alert", hidden: true, id: "rev-error" });
    const note = h("textarea#rev-note", { name: "note", rows: 3, maxlength: 5000, "aria-label": t("tasks.review_note"), "aria-describedby": "rev-hint" });
    const history = h("div.review-history", { "data-testid": "review-history" }, h("p.muted", {}, t("common.loading")));
    async function decide(decision) {
      error.hidden = true;
      if (decision === "return" && !note.value.trim()) {
        error.textContent = t("tasks.return_needs_note");
        error.hidden = false;
        note.setAttribute("aria-invalid", "true");
        note.focus();
        return;
      }
      try {
        await api.post(`/api/tasks/${task.id}/review`, { decision, note: note.value.trim() });
        dialog.close();
        say(t(decision === "accept" ? "tasks.accepted_msg" : "tasks.returned_msg", { title: task.title }));
        await load();
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
      }
    }
    mount(dialog, h("div.form", {},
      h("h2#rep-h", {}, t("tasks.review_title")), h("p.strong", {}, task.title),
      h("p.small", {}, t("tasks.lead"), ": ", task.lead_unit_name || unitNames.get(task.lead_unit) || task.lead_unit, " · ",
        t("tasks.deadline"), ": ", formatDate(task.deadline)),
      task.description ? h("p.small", {}, task.description) : null,
      h("h3", {}, t("tasks.history")), history, error,
      h("div.field", {}, h("label", { for: "rev-note" }, t("tasks.review_note")), note,
        h("span#rev-hint.small.muted", {}, t("tasks.review_note_hint"))),
      h("div.form-actions.wrap", {},
        h("button.btn.ghost", { type: "button", onclick: () => dialog.close() }, t("common.close")),
        h("button.btn.danger", { type: "button", onclick: () => decide("return") }, t("tasks.return")),
        h("button.btn.success", { type: "button", onclick: () => decide("accept") }, t("tasks.accept")))));
    dialog.showModal();
    api.get(`/api/tasks/${task.id}`).then((detail) => mount(history, historyView(detail.reports || [], unitNames)))
      .catch((err) => mount(history, h("div.alert.error", { role: "alert" }, err.message)));
  }

  function openReport(task) {
    const error = h("div.alert.error", { role: "alert", hidden: true });
    const kind = h("select#rep-kind", { name: "kind", "aria-label": t("tasks.report_kind") },
      ["progress", "done"].map((k) => h("option", { value: k }, t("tasks.kind." + k))));
    const pct = h("input#rep-pct", { name: "progress_pct", type: "number", min: 0, max: 100, value: 50, "aria-label": t("tasks.progress") });
    const note = h("textarea#rep-note", { name: "note", rows: 4, required: true, "aria-label": t("tasks.note") });
    const file = h("input#rep-file", { name: "files", type: "file", multiple: true, accept: ".pdf,.jpg,.jpeg,.png,.docx,.xlsx,.odt", "aria-label": t("tasks.evidence"), "aria-describedby": "rep-limit" });
    const history = h("div.review-history");
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
        say(t("tasks.reported_msg", { title: task.title }));
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
      h("div.field", {}, h("label", { for: "rep-file" }, t("tasks.evidence")), filePicker(file),
        h("span#rep-limit.small.muted", {}, t("tasks.evidence_limit"))),
      history,
      h("div.form-actions", {},
        h("button.btn.ghost", { type: "button", "aria-label": t("common.cancel"), onclick: () => dialog.close() }, t("common.cancel")),
        h("button.btn.primary", { type: "submit", "aria-label": t("tasks.send_report") }, t("tasks.send_report")))));
    dialog.showModal();
    note.focus();
    api.get(`/api/tasks/${task.id}`).then((detail) => mount(history, historyView(detail.reports || [], unitNames))).catch(() => {});
  }

  await load();
}
