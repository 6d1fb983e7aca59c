// Meeting list (live, upcoming, past) with start/end for the chair, edit and cancel for the chair or clerk, and
// the link to schedule one. Meetings sharing a title are told apart by their number and time.
import { api } from "../api.js";
import { h, mount } from "../dom.js";
import { formatDateTime, t } from "../i18n.js";
import { canManage, canSchedule, canStartEnd } from "../session.js";

const GROUPS = [
  { id: "live", statuses: ["live"] },
  { id: "upcoming", statuses: ["scheduled", "interrupted"] },
  { id: "past", statuses: ["ended", "cancelled"] },
];

export function statusBadge(status) {
  return h(`span.badge.status-${status}`, { "data-status": status }, t("meeting.status." + status));
}

/** "Họp giao ban (Số 12, 08:00 01/12/2026)": what names one meeting among several with the same title. */
export function meetingLabel(m) {
  return `${m.title} (${t("meeting.number", { id: m.id })}, ${formatDateTime(m.started_at || m.starts_at)})`;
}

export async function render({ main, user, navigate, query }) {
  const flash = h("div.alert", { role: "status", hidden: true, "data-testid": "meeting-flash" });
  const body = h("div", {}, h("p.muted", {}, t("common.loading")));
  const dialog = h("dialog.report-dialog", { "aria-labelledby": "cancel-h" });
  const announced = query && (query.get("created") || query.get("updated"));

  function say(kind, text) {
    flash.className = `alert ${kind}`;
    flash.textContent = text;
    flash.hidden = false;
  }

  function askCancel(m) {
    const reason = h("textarea#cancel-reason", { rows: 3, maxlength: 500, "aria-label": t("meeting.cancel_reason") });
    const error = h("div.alert.error", { role: "alert", hidden: true });
    async function confirmCancel() {
      try {
        await api.post(`/api/meetings/${m.id}/cancel`, { reason: reason.value.trim() });
        dialog.close();
        say("success", t("meeting.cancelled_msg", { title: meetingLabel(m) }));
        await load();
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
      }
    }
    mount(dialog, h("div.form", {},
      h("h2#cancel-h", {}, t("meeting.cancel_title")), h("p.strong", {}, meetingLabel(m)), error,
      h("div.field", {}, h("label", { for: "cancel-reason" }, t("meeting.cancel_reason")), reason),
      h("div.form-actions.wrap", {},
        h("button.btn.ghost", { type: "button", onclick: () => dialog.close() }, t("meeting.keep")),
        h("button.btn.danger", { type: "button", onclick: confirmCancel }, t("meeting.cancel_confirm")))));
    dialog.showModal();
    reason.focus();
  }

  async function act(meeting, action) {
    flash.hidden = true;
    try {
      await api.post(`/api/meetings/${meeting.id}/${action}`);
      say("success", t(action === "start" ? "meeting.started" : "meeting.ended", { title: meetingLabel(meeting) }));
      await load();
    } catch (err) {
      flash.className = "alert error";
      flash.textContent = err.message;
      flash.hidden = false;
    }
  }

  function actions(m) {
    const out = [];
    const label = meetingLabel(m);
    if (m.status === "live") {
      out.push(h("button.btn.primary", { type: "button", "aria-label": t("meeting.join_aria", { title: label }),
        onclick: () => navigate(`/meetings/${m.id}/check`) }, t("meeting.join")));
    }
    if (canStartEnd(user, m) && ["scheduled", "interrupted"].includes(m.status)) {
      out.push(h("button.btn.success", { type: "button", "aria-label": t("meeting.start_aria", { title: label }),
        onclick: () => act(m, "start") }, m.status === "interrupted" ? t("meeting.resume") : t("meeting.start")));
    }
    if (canStartEnd(user, m) && m.status === "live") {
      out.push(h("button.btn.danger", { type: "button", "aria-label": t("meeting.end_aria", { title: label }),
        onclick: () => { if (confirm(t("meeting.end_confirm"))) act(m, "end"); } }, t("meeting.end")));
    }
    if (["scheduled", "interrupted"].includes(m.status)) {
      out.push(h("a.btn.ghost", { href: `#/meetings/${m.id}/check`, "aria-label": t("check.open_aria", { title: label }) }, t("check.short")));
    }
    if (canManage(user, m) && m.status === "scheduled") {
      out.push(h("a.btn.ghost", { href: `#/meetings/${m.id}/edit`, "aria-label": t("meeting.edit_aria", { title: label }) }, t("meeting.edit")));
      out.push(h("button.btn.ghost.danger-text", { type: "button", "aria-label": t("meeting.cancel_aria", { title: label }),
        onclick: () => askCancel(m) }, t("meeting.cancel")));
    }
    if (["ended", "interrupted", "live"].includes(m.status)) {
      out.push(h("a.btn.ghost", { href: `#/meetings/${m.id}`, "aria-label": t("record.open_aria", { title: label }) }, t("record.open")));
    }
    return h("div.actions", {}, out);
  }

  function table(list) {
    if (!list.length) return h("p.muted.empty", {}, t("meeting.none"));
    return h("table.table.meeting-table", {},
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, t("meeting.title")),
        h("th", { scope: "col" }, t("meeting.when")),
        h("th", { scope: "col" }, t("meeting.chair_unit")),
        h("th", { scope: "col" }, t("meeting.points")),
        h("th", { scope: "col" }, t("meeting.status")),
        h("th", { scope: "col" }, h("span.sr-only", {}, t("common.actions"))))),
      h("tbody", {}, list.map((m) => h("tr", { "data-meeting-id": m.id, class: String(m.id) === announced ? "just-saved" : "" },
        h("td", {}, h("div.strong", {}, m.title), h("div.small.muted", { "data-testid": "meeting-number" }, t("meeting.number", { id: m.id })),
          m.place ? h("div.small.muted", {}, m.place) : null,
          m.record ? h("span.tag", { title: t("meeting.recorded") }, "● " + t("meeting.recorded")) : null),
        h("td", { "data-label": t("meeting.when") }, formatDateTime(m.started_at || m.starts_at)),
        h("td", { "data-label": t("meeting.chair_unit") }, m.chair_unit_name),
        h("td", { "data-label": t("meeting.points") }, String(m.units.length)),
        h("td", { "data-label": t("meeting.status") }, statusBadge(m.status)),
        h("td", {}, actions(m))))));
  }

  async function load() {
    let list;
    try {
      list = await api.get("/api/meetings");
    } catch (err) {
      mount(body, h("div.alert.error", { role: "alert" }, err.message));
      return;
    }
    if (announced && flash.hidden) {
      const m = list.find((x) => String(x.id) === announced);
      if (m) say("success", t(query.get("created") ? "schedule.created" : "schedule.updated",
        { title: meetingLabel(m), when: formatDateTime(m.starts_at) }));
    }
    mount(body, GROUPS.map((g) => {
      const items = list.filter((m) => g.statuses.includes(m.status));
      if (g.id === "upcoming") items.sort((a, b) => (a.starts_at || "").localeCompare(b.starts_at || ""));
      return h(`section.card.group-${g.id}`, { "aria-labelledby": `grp-${g.id}`, "data-group": g.id },
        h("h2", { id: `grp-${g.id}` }, t("meeting.group." + g.id), " ", h("span.count", {}, `(${items.length})`)),
        table(items));
    }));
  }

  mount(main,
    h("div.page-head", {},
      h("h1", {}, t("nav.meetings")),
      canSchedule(user) ? h("a.btn.primary", { href: "#/meetings/new", "aria-label": t("schedule.title") }, "+ ", t("schedule.title")) : null),
    flash, body, dialog);
  await load();
  const timer = setInterval(load, 15000);
  return () => clearInterval(timer);
}
