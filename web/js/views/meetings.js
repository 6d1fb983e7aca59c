// Meeting list (live, upcoming, past) with start/end for the chair and the link to schedule one.
import { api } from "../api.js";
import { h, mount } from "../dom.js";
import { formatDateTime, t } from "../i18n.js";
import { canSchedule, canStartEnd } from "../session.js";

const GROUPS = [
  { id: "live", statuses: ["live"] },
  { id: "upcoming", statuses: ["scheduled", "interrupted"] },
  { id: "past", statuses: ["ended", "cancelled"] },
];

export function statusBadge(status) {
  return h(`span.badge.status-${status}`, { "data-status": status }, t("meeting.status." + status));
}

export async function render({ main, user, navigate }) {
  const flash = h("div.alert", { role: "status", hidden: true });
  const body = h("div", {}, h("p.muted", {}, t("common.loading")));

  async function act(meeting, action) {
    flash.hidden = true;
    try {
      await api.post(`/api/meetings/${meeting.id}/${action}`);
      flash.className = "alert success";
      flash.textContent = t(action === "start" ? "meeting.started" : "meeting.ended", { title: meeting.title });
      flash.hidden = false;
      await load();
    } catch (err) {
      flash.className = "alert error";
      flash.textContent = err.message;
      flash.hidden = false;
    }
  }

  function actions(m) {
    const out = [];
    if (m.status === "live") {
      out.push(h("button.btn.primary", { type: "button", "aria-label": t("meeting.join_aria", { title: m.title }),
        onclick: () => navigate(`/meetings/${m.id}/check`) }, t("meeting.join")));
    }
    if (canStartEnd(user, m) && ["scheduled", "interrupted"].includes(m.status)) {
      out.push(h("button.btn.success", { type: "button", "aria-label": t("meeting.start_aria", { title: m.title }),
        onclick: () => act(m, "start") }, m.status === "interrupted" ? t("meeting.resume") : t("meeting.start")));
    }
    if (canStartEnd(user, m) && m.status === "live") {
      out.push(h("button.btn.danger", { type: "button", "aria-label": t("meeting.end_aria", { title: m.title }),
        onclick: () => { if (confirm(t("meeting.end_confirm"))) act(m, "end"); } }, t("meeting.end")));
    }
    if (["scheduled", "interrupted"].includes(m.status)) {
      out.push(h("a.btn.ghost", { href: `#/meetings/${m.id}/check`, "aria-label": t("check.open_aria", { title: m.title }) }, t("check.short")));
    }
    if (["ended", "interrupted", "live"].includes(m.status)) {
      out.push(h("a.btn.ghost", { href: `#/meetings/${m.id}`, "aria-label": t("record.open_aria", { title: m.title }) }, t("record.open")));
    }
    return h("div.actions", {}, out);
  }

  function table(list) {
    if (!list.length) return h("p.muted.empty", {}, t("meeting.none"));
    return h("table.table", {},
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, t("meeting.title")),
        h("th", { scope: "col" }, t("meeting.when")),
        h("th", { scope: "col" }, t("meeting.chair_unit")),
        h("th", { scope: "col" }, t("meeting.points")),
        h("th", { scope: "col" }, t("meeting.status")),
        h("th", { scope: "col" }, h("span.sr-only", {}, t("common.actions"))))),
      h("tbody", {}, list.map((m) => h("tr", { "data-meeting-id": m.id },
        h("td", {}, h("div.strong", {}, m.title), m.place ? h("div.small.muted", {}, m.place) : null,
          m.record ? h("span.tag", { title: t("meeting.recorded") }, "● " + t("meeting.recorded")) : null),
        h("td", {}, formatDateTime(m.started_at || m.starts_at)),
        h("td", {}, m.chair_unit_name),
        h("td", {}, String(m.units.length)),
        h("td", {}, statusBadge(m.status)),
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
    flash, body);
  await load();
  const timer = setInterval(load, 15000);
  return () => clearInterval(timer);
}
