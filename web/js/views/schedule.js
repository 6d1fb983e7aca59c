// Scheduling form for the chair/clerk: POST /api/meetings with units picked from the GET /api/units tree.
import { api } from "../api.js";
import { h, mount } from "../dom.js";
import { t } from "../i18n.js";
import { canSchedule } from "../session.js";

function flatten(nodes, depth = 0, out = []) {
  for (const n of nodes) {
    out.push({ ...n, depth });
    flatten(n.children || [], depth + 1, out);
  }
  return out;
}

function findNode(nodes, code) {
  for (const n of nodes) {
    if (n.code === code) return n;
    const found = findNode(n.children || [], code);
    if (found) return found;
  }
  return null;
}

/** "2026-12-01T08:00" (local) → ISO with the browser's offset, e.g. "2026-12-01T08:00:00+07:00". */
export function localToIso(value) {
  const d = new Date(value);
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  const hh = String(Math.floor(Math.abs(off) / 60)).padStart(2, "0");
  const mm = String(Math.abs(off) % 60).padStart(2, "0");
  return `${value.length === 16 ? value + ":00" : value}${sign}${hh}:${mm}`;
}

function defaultStart() {
  const d = new Date(Date.now() + 60 * 60 * 1000);
  d.setMinutes(0, 0, 0);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export async function render({ main, user, navigate }) {
  if (!canSchedule(user)) {
    mount(main, h("div.alert.error", { role: "alert" }, t("schedule.forbidden")));
    return;
  }
  const tree = (await api.get("/api/units")).units;
  const all = flatten(tree);
  const error = h("div.alert.error", { role: "alert", hidden: true });

  const title = h("input#m-title", { required: true, maxlength: 300, "aria-label": t("meeting.title") });
  const startsAt = h("input#m-start", { type: "datetime-local", required: true, value: defaultStart(), "aria-label": t("meeting.when") });
  const place = h("input#m-place", { maxlength: 300, "aria-label": t("meeting.place"), placeholder: t("meeting.place_hint") });
  const record = h("input#m-record", { type: "checkbox", checked: true, "aria-label": t("meeting.record") });
  const chair = h("select#m-chair", { "aria-label": t("meeting.chair_unit"), disabled: user.role !== "admin", onchange: drawUnits },
    all.map((u) => h("option", { value: u.code, selected: u.code === user.unit }, "\u00a0".repeat(u.depth * 3) + u.name)));

  const unitBox = h("fieldset.unit-picker", {});
  function drawUnits() {
    const chairNode = findNode(tree, chair.value);
    const candidates = flatten(chairNode ? chairNode.children || [] : []).filter((u) => u.code !== chair.value);
    const others = candidates.length ? candidates : all.filter((u) => u.code !== chair.value);
    mount(unitBox,
      h("legend", {}, t("schedule.units")),
      h("div.picker-tools", {},
        h("button.btn.small", { type: "button", "aria-label": t("schedule.select_all"), onclick: () => setAll(true) }, t("schedule.select_all")),
        h("button.btn.small.ghost", { type: "button", "aria-label": t("schedule.select_none"), onclick: () => setAll(false) }, t("schedule.select_none"))),
      h("div.unit-grid", {}, others.map((u) => h("label.check", {},
        h("input", { type: "checkbox", name: "unit", value: u.code, checked: true, "aria-label": u.name }),
        " ", u.name))));
  }
  function setAll(on) {
    for (const box of unitBox.querySelectorAll("input[name=unit]")) box.checked = on;
  }
  drawUnits();

  const agendaList = h("ol.agenda-list", {});
  function addAgenda(text = "") {
    const n = agendaList.children.length + 1;
    const input = h("input", { value: text, maxlength: 500, name: "agenda", "aria-label": t("schedule.agenda_item", { n }) });
    const row = h("li", {}, input,
      h("button.btn.small.ghost", { type: "button", "aria-label": t("schedule.agenda_remove", { n }), onclick: () => row.remove() }, "✕"));
    agendaList.append(row);
    return input;
  }
  addAgenda("");

  async function onSubmit(event) {
    event.preventDefault();
    error.hidden = true;
    const body = {
      title: title.value.trim(),
      chair_unit: chair.value,
      units: [...unitBox.querySelectorAll("input[name=unit]:checked")].map((b) => b.value),
      starts_at: localToIso(startsAt.value),
      record: record.checked,
      place: place.value.trim(),
      agenda: [...agendaList.querySelectorAll("input[name=agenda]")].map((i) => i.value.trim()).filter(Boolean).map((v) => ({ title: v })),
    };
    try {
      const created = await api.post("/api/meetings", body);
      navigate(`/meetings?created=${created.id}`);
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  }

  mount(main,
    h("div.page-head", {}, h("h1", {}, t("schedule.title")),
      h("a.btn.ghost", { href: "#/meetings", "aria-label": t("common.back") }, "← ", t("common.back"))),
    h("form.card.form", { onsubmit: onSubmit, "aria-label": t("schedule.title") },
      error,
      h("div.form-grid", {},
        h("div.field.wide", {}, h("label", { for: "m-title" }, t("meeting.title")), title),
        h("div.field", {}, h("label", { for: "m-start" }, t("meeting.when")), startsAt),
        h("div.field", {}, h("label", { for: "m-chair" }, t("meeting.chair_unit")), chair),
        h("div.field.wide", {}, h("label", { for: "m-place" }, t("meeting.place")), place),
        h("div.field.wide", {}, h("label.check", {}, record, " ", t("meeting.record")),
          h("p.small.muted", {}, t("schedule.record_hint")))),
      unitBox,
      h("fieldset", {}, h("legend", {}, t("schedule.agenda")), agendaList,
        h("button.btn.small", { type: "button", "aria-label": t("schedule.agenda_add"), onclick: () => addAgenda("").focus() }, "+ ", t("schedule.agenda_add"))),
      h("div.form-actions", {}, h("button.btn.primary", { type: "submit", "aria-label": t("schedule.submit") }, t("schedule.submit")))));
  title.focus();
}
