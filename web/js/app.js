// The single-page shell: header with the unit's name, left navigation, and a hash router over the views.
import { api } from "./api.js";
import { h, mount } from "./dom.js";
import { LANGUAGES, lang, setLang, t } from "./i18n.js";
import { noticeButton } from "./notices.js";
import { clearMe, currentUser, loadMe } from "./session.js";

const ROUTES = [
  { pattern: /^\/login$/, view: () => import("./views/login.js"), public: true, shell: false },
  { pattern: /^\/meetings$/, view: () => import("./views/meetings.js"), nav: "meetings" },
  { pattern: /^\/meetings\/new$/, view: () => import("./views/schedule.js"), nav: "meetings" },
  { pattern: /^\/meetings\/(\d+)\/edit$/, view: () => import("./views/schedule.js"), nav: "meetings" },
  { pattern: /^\/meetings\/(\d+)\/check$/, view: () => import("./views/prejoin.js"), nav: "meetings" },
  { pattern: /^\/meetings\/(\d+)\/room$/, view: () => import("./views/room.js"), nav: "meetings", shell: false },
  { pattern: /^\/meetings\/(\d+)$/, view: () => import("./views/record.js"), nav: "meetings" },
  { pattern: /^\/search$/, view: () => import("./views/search.js"), nav: "search" },
  { pattern: /^\/tasks$/, view: () => import("./views/tasks.js"), nav: "tasks" },
  { pattern: /^\/reports$/, view: () => import("./views/scoreboard.js"), nav: "reports" },
];

const NAV = [
  { id: "meetings", href: "#/meetings", label: "nav.meetings", icon: "▣" },
  { id: "search", href: "#/search", label: "nav.search", icon: "⌕" },
  { id: "tasks", href: "#/tasks", label: "nav.tasks", icon: "☑" },
  { id: "reports", href: "#/reports", label: "nav.reports", icon: "▤" },
];

let cleanup = null;

export function navigate(path) {
  if (location.hash === "#" + path) route();
  else location.hash = "#" + path;
}

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/meetings";
  const [path, query = ""] = raw.split("?");
  return { path, query: new URLSearchParams(query) };
}

function shell(user, active) {
  // on a phone the navigation and the account's controls fold behind one menu button (CSS: .menu-toggle)
  const menuId = "site-menu";
  const toggle = h("button.btn.ghost.menu-toggle", {
    type: "button", "aria-expanded": "false", "aria-controls": menuId, "aria-label": t("nav.menu_open"),
    onclick: () => {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      document.getElementById("app").classList.toggle("menu-open", open);
    },
  }, h("span", { "aria-hidden": "true" }, "☰"), " ", t("nav.menu"));
  document.getElementById("app").classList.remove("menu-open");
  const header = h(
    "header.topbar",
    { role: "banner" },
    h("div.brand", {}, h("span.emblem", { "aria-hidden": "true" }, "★"),
      h("div", {}, h("div.brand-unit", {}, user ? user.unit_name : t("app.name")),
        h("div.brand-sub", {}, t("app.tagline")))),
    toggle,
    h("div.topbar-right", {},
      langSwitch(),
      user ? noticeButton() : null,
      user ? h("span.user", { "data-testid": "current-user" }, `${user.full_name || user.username} · ${t("role." + user.role)}`) : null,
      user ? h("button.btn.ghost", { type: "button", "aria-label": t("auth.logout"), onclick: logout }, t("auth.logout")) : null),
  );
  const nav = h(
    "nav.sidenav",
    { "aria-label": t("nav.label"), id: menuId },
    h("ul", {}, NAV.map((item) =>
      h("li", {}, h("a", {
        href: item.href,
        class: item.id === active ? "active" : "",
        "aria-current": item.id === active ? "page" : false,
      }, h("span.icon", { "aria-hidden": "true" }, item.icon), t(item.label))))),
  );
  const main = h("main#main.content", { tabindex: "-1" });
  mount(document.getElementById("app"), header, h("div.body", {}, nav, main));
  return main;
}

function bare() {
  const main = h("main#main.content.bare", { tabindex: "-1" });
  mount(document.getElementById("app"), main);
  return main;
}

function langSwitch() {
  const select = h("select.lang", { "aria-label": t("app.language"), onchange: (e) => { setLang(e.target.value); route(); } },
    LANGUAGES.map((code) => h("option", { value: code, selected: code === lang() }, code === "vi" ? "Tiếng Việt" : "English")));
  return select;
}

async function logout() {
  try {
    await api.post("/api/auth/logout");
  } catch {
    // already logged out
  }
  clearMe();
  navigate("/login");
}

export async function route() {
  if (cleanup) {
    try {
      await cleanup();
    } catch (err) {
      console.warn("cleanup failed", err);
    }
    cleanup = null;
  }
  const { path, query } = parseHash();
  const entry = ROUTES.find((r) => r.pattern.test(path));
  if (!entry) {
    navigate("/meetings");
    return;
  }
  let user = currentUser();
  if (!user && !entry.public) user = await loadMe();
  if (!user && !entry.public) {
    navigate("/login?next=" + encodeURIComponent(path + (query.toString() ? "?" + query : "")));
    return;
  }
  const params = entry.pattern.exec(path).slice(1);
  const main = entry.shell === false ? bare() : shell(user, entry.nav);
  const module = await entry.view();
  try {
    const result = await module.render({ main, params, query, user, navigate });
    if (typeof result === "function") cleanup = result;
  } catch (err) {
    console.error(err);
    mount(main, h("div.alert.error", { role: "alert" }, err.message || String(err)));
  }
  main.focus({ preventScroll: true });
}

window.addEventListener("hashchange", route);
route();
