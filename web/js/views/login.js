// Login: POST /api/auth/login sets the httpOnly session cookie; then every call uses it.
import { api } from "../api.js";
import { h, mount } from "../dom.js";
import { t } from "../i18n.js";
import { loadMe } from "../session.js";

export async function render({ main, query, navigate }) {
  const error = h("div.alert.error", { role: "alert", hidden: true, "data-testid": "login-error" });
  const username = h("input#username", { name: "username", autocomplete: "username", required: true, "aria-label": t("auth.username") });
  const password = h("input#password", { name: "password", type: "password", autocomplete: "current-password", required: true, "aria-label": t("auth.password") });
  const submit = h("button.btn.primary.block", { type: "submit", "aria-label": t("auth.login") }, t("auth.login"));

  async function onSubmit(event) {
    event.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    try {
      await api.post("/api/auth/login", { username: username.value.trim(), password: password.value });
      await loadMe();
      navigate(query.get("next") || "/meetings");
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
      password.select();
    } finally {
      submit.disabled = false;
    }
  }

  mount(main, h("div.login-page", {},
    h("div.login-card.card", {},
      h("div.login-head", {},
        h("span.emblem.big", { "aria-hidden": "true" }, "★"),
        h("h1", {}, t("app.name")),
        h("p.muted", {}, t("app.tagline"))),
      h("form", { onsubmit: onSubmit, "aria-label": t("auth.title") },
        h("h2", {}, t("auth.title")),
        error,
        h("label", { for: "username" }, t("auth.username")), username,
        h("label", { for: "password" }, t("auth.password")), password,
        submit),
      h("p.small.muted", {}, t("auth.hint")))));
  username.focus();
}
