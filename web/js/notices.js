// The account's notifications in the header (GET /api/notifications): a "Thông báo (n)" button with the unread
// count, opening a list of the latest ones (a meeting rescheduled or cancelled, a task assigned or returned...);
// opening one marks it read and goes to its meeting or task.
import { api } from "./api.js";
import { h, mount } from "./dom.js";
import { formatDateTime, t } from "./i18n.js";

const SHOWN = 20;

function target(n) {
  if (n.data && n.data.task_id != null) return "#/tasks";
  if (n.data && n.data.meeting_id != null) return "#/meetings";
  return null;
}

/** The header's notification button and its panel; loads the list once per page drawn. */
export function noticeButton() {
  const count = h("span.notice-count", { "aria-hidden": "true" });
  const panel = h("section.notice-panel", { hidden: true, "aria-label": t("notice.title"), "data-testid": "notice-panel" });
  const button = h("button.btn.ghost.notice-toggle", { type: "button", "aria-expanded": "false", "aria-label": t("notice.title"),
    onclick: () => {
      const open = panel.hidden;
      panel.hidden = !open;
      button.setAttribute("aria-expanded", String(open));
    } }, t("notice.title"), " ", count);
  let items = [];

  function draw() {
    const unread = items.filter((n) => !n.read_at).length;
    count.textContent = unread ? `(${unread})` : "";
    button.setAttribute("aria-label", unread ? t("notice.unread", { n: unread }) : t("notice.title"));
    mount(panel, h("h2.notice-head", {}, t("notice.title")),
      items.length ? h("ul.notice-list", {}, items.slice(0, SHOWN).map((n) => h("li", { class: n.read_at ? "" : "unread", "data-kind": n.kind },
        h("a", { href: target(n) || "#", onclick: () => markRead(n) }, n.text),
        h("div.small.muted", {}, formatDateTime(n.created_at)))))
        : h("p.empty.small", {}, t("notice.none")));
  }

  async function markRead(n) {
    if (n.read_at) return;
    try {
      Object.assign(n, await api.post(`/api/notifications/${n.id}/read`));
    } catch {
      return;  // shown again next time
    }
    draw();
  }

  api.get("/api/notifications").then((list) => {
    items = list;
    draw();
  }).catch(() => {});
  draw();
  return h("div.notices", {}, button, panel);
}
