// Scheduling form for the chair/clerk: POST /api/meetings with units picked from the GET /api/units tree; the same
// form edits a scheduled meeting (#/meetings/{id}/edit → PATCH, the invited units are notified by the server).
import { api, ApiError } from "../api.js";
import { h, mount } from "../dom.js";
import { fold } from "../fold.js";
import { formatDateTime, t } from "../i18n.js";
import { canSchedule } from "../session.js";
import { dateInput, parseDmy, parseHm, timeInput } from "../vnforms.js";

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

// Plural names of a level, by unit kind ("Mời tất cả phường"); an unknown kind is shown as it is.
const LEVEL_KEYS = { commune: "schedule.level.commune", ward: "schedule.level.ward", district: "schedule.level.district",
  village: "schedule.level.village", province: "schedule.level.province" };

// the picker's extra rows (levels, groups, filter) wrap and keep apart on a narrow screen
const ROW = { marginTop: ".5rem", flexWrap: "wrap", alignItems: "center" };


/** "2026-12-01T08:00" (local) → ISO with the browser's offset, e.g. "2026-12-01T08:00:00+07:00". */
export function localToIso(value) {
  const d = new Date(value);
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  const hh = String(Math.floor(Math.abs(off) / 60)).padStart(2, "0");
  const mm = String(Math.abs(off) % 60).padStart(2, "0");
  return `${value.length === 16 ? value + ":00" : value}${sign}${hh}:${mm}`;
}

const pad2 = (n) => String(n).padStart(2, "0");

/** "2026-12-01T08:00" in the browser's time: the value the date and time fields are filled from. */
function localValue(d) {
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}T${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

function defaultStart() {
  const d = new Date(Date.now() + 60 * 60 * 1000);
  d.setMinutes(0, 0, 0);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export async function render({ main, params = [], user, navigate }) {
  if (!canSchedule(user)) {
    mount(main, h("div.alert.error", { role: "alert" }, t("schedule.forbidden")));
    return;
  }
  const editing = params[0] ? await api.get(`/api/meetings/${params[0]}`) : null;
  const tree = (await api.get("/api/units")).units;
  const all = flatten(tree);
  const error = h("div.alert.error", { role: "alert", hidden: true, "data-testid": "schedule-error" });

  const start = (editing && editing.starts_at ? localValue(new Date(editing.starts_at)) : defaultStart()).split("T");
  const title = h("input#m-title", { required: true, maxlength: 300, "aria-label": t("meeting.title"), value: editing ? editing.title : "" });
  const day = dateInput("m-date", start[0], t("schedule.date"), { required: true });
  const time = timeInput("m-time", start[1], t("schedule.time"), { required: true });
  const place = h("input#m-place", { maxlength: 300, "aria-label": t("meeting.place"), placeholder: t("meeting.place_hint"), value: editing ? editing.place : "" });
  const record = h("input#m-record", { type: "checkbox", checked: editing ? editing.record : true, "aria-label": t("meeting.record") });
  // video recording needs the audio recording: the choice is disabled (and sent as "none") while that is off
  const videoMode = editing ? editing.record_video || "none" : "none";
  const video = h("select#m-video", { "aria-label": t("schedule.video") },
    ["none", "all", "hall_and_floor"].map((v) => h("option", { value: v, selected: v === videoMode }, t(`schedule.video.${v}`))));
  const syncVideo = () => { video.disabled = !record.checked; };
  record.addEventListener("change", syncVideo);
  syncVideo();
  const chairCode = editing ? editing.chair_unit : user.unit;
  const chair = h("select#m-chair", { "aria-label": t("meeting.chair_unit"), disabled: user.role !== "admin" || !!editing },
    all.map((u) => h("option", { value: u.code, selected: u.code === chairCode }, "\u00a0".repeat(u.depth * 3) + u.name)));
  const invited = editing ? new Set(editing.units) : null;

  const unitBox = h("fieldset.unit-picker", {});
  let groups = [];
  const groupStatus = h("span.small.muted", { role: "status", "data-testid": "group-status" });

  async function loadGroups() {
    try {
      groups = await api.get(`/api/invitation-groups?unit=${encodeURIComponent(chair.value)}`);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      groups = [];  // not a manager of that unit (an admin picking another one sees its groups)
    }
  }

  function boxes() {
    return [...unitBox.querySelectorAll("input[name=unit]")];
  }

  function check(codes) {
    const wanted = new Set(codes);
    let found = 0;
    for (const box of boxes()) {
      if (wanted.has(box.value)) {
        box.checked = true;
        found += 1;
      }
    }
    countSelected();
    return found;
  }

  function countSelected() {
    const all = boxes();
    const counter = unitBox.querySelector("[data-testid=unit-count]");
    if (counter) counter.textContent = t("schedule.selected", { n: all.filter((b) => b.checked).length, total: all.length });
  }

  function drawUnits() {
    const chairNode = findNode(tree, chair.value);
    const candidates = flatten(chairNode ? chairNode.children || [] : []).filter((u) => u.code !== chair.value);
    const others = candidates.length ? candidates : all.filter((u) => u.code !== chair.value);
    // one button per level of the units directly under the chairing unit: "all wards", "all communes", all of them
    const direct = chairNode ? chairNode.children || [] : [];
    const kinds = [...new Set(direct.map((u) => u.kind))];
    const levelButtons = direct.length ? [
      h("button.btn.small", { type: "button", "data-level": "*", onclick: () => check(direct.map((u) => u.code)) },
        t("schedule.invite_level_all", { n: direct.length })),
      ...(kinds.length > 1 ? kinds.map((kind) => {
        const codes = direct.filter((u) => u.kind === kind).map((u) => u.code);
        const level = LEVEL_KEYS[kind] ? t(LEVEL_KEYS[kind]) : kind;
        return h("button.btn.small", { type: "button", "data-level": kind, onclick: () => check(codes) },
          t("schedule.invite_level", { level, n: codes.length }));
      }) : []),
    ] : [];
    const groupSelect = h("select#m-group", { "aria-label": t("schedule.group") },
      h("option", { value: "" }, groups.length ? t("schedule.group_pick") : t("schedule.group_none")),
      groups.map((g) => h("option", { value: String(g.id) }, t("schedule.group_option", { name: g.name, n: g.units.length }))));
    const groupName = h("input#m-group-name", { maxlength: 200, "aria-label": t("schedule.group_name"), placeholder: t("schedule.group_name") });
    const filter = h("input#m-unit-filter", { type: "search", "aria-label": t("schedule.filter"), placeholder: t("schedule.filter"), style: ROW,
      oninput: () => {
        const q = fold(filter.value.trim());
        // style, not the hidden attribute: the label's CSS display would win over [hidden]
        for (const label of unitBox.querySelectorAll(".unit-grid label")) {
          label.style.display = q !== "" && !fold(label.textContent).includes(q) ? "none" : "";
        }
      } });
    mount(unitBox,
      h("legend", {}, t("schedule.units")),
      h("div.picker-tools", {},
        h("button.btn.small", { type: "button", "aria-label": t("schedule.select_all"), onclick: () => setAll(true) }, t("schedule.select_all")),
        h("button.btn.small.ghost", { type: "button", "aria-label": t("schedule.select_none"), onclick: () => setAll(false) }, t("schedule.select_none")),
        h("span.small.muted", { "data-testid": "unit-count", "aria-live": "polite" })),
      levelButtons.length ? h("div.picker-tools", { role: "group", "aria-label": t("schedule.levels"), style: ROW }, levelButtons) : null,
      h("div.picker-tools", { role: "group", "aria-label": t("schedule.groups"), style: ROW },
        groupSelect,
        h("button.btn.small", { type: "button", onclick: () => {
          const group = groups.find((g) => String(g.id) === groupSelect.value);
          if (!group) return;
          const found = check(group.units);
          groupStatus.textContent = t("schedule.group_invited", { name: group.name, n: found });
        } }, t("schedule.group_invite")),
        groupName,
        h("button.btn.small.ghost", { type: "button", onclick: () => saveGroup(groupName.value.trim()) }, t("schedule.group_save")),
        groupStatus),
      filter,
      h("div.unit-grid", { onchange: countSelected }, others.map((u) => h("label.check", {},
        h("input", { type: "checkbox", name: "unit", value: u.code, checked: invited ? invited.has(u.code) : true, "aria-label": u.name }),
        " ", u.name))));
    countSelected();
  }
  function setAll(on) {
    for (const box of boxes()) box.checked = on;
    countSelected();
  }

  async function saveGroup(name) {
    const units = boxes().filter((b) => b.checked).map((b) => b.value);
    if (!name || !units.length) {
      groupStatus.textContent = t("schedule.group_save_hint");
      return;
    }
    try {
      const saved = await api.post("/api/invitation-groups", { name, unit: chair.value, units });
      await loadGroups();
      drawUnits();
      for (const box of boxes()) box.checked = units.includes(box.value);
      countSelected();
      unitBox.querySelector("#m-group").value = String(saved.id);
      groupStatus.textContent = t("schedule.group_saved", { name: saved.name, n: saved.units.length });
    } catch (err) {
      groupStatus.textContent = err.message;
    }
  }
  chair.addEventListener("change", async () => {
    await loadGroups();
    drawUnits();
  });
  await loadGroups();
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
  if (editing && editing.agenda.length) for (const item of editing.agenda) addAgenda(item.title);
  else addAgenda("");

  function refuse(message, field) {
    error.textContent = message;
    error.hidden = false;
    if (field) {
      field.setAttribute("aria-invalid", "true");
      field.focus();
    }
  }

  async function onSubmit(event) {
    event.preventDefault();
    error.hidden = true;
    for (const el of main.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    if (!title.value.trim()) return refuse(t("schedule.no_title"), title);
    const isoDay = parseDmy(day.value);
    if (!isoDay) return refuse(t("date.invalid"), day);
    const hm = parseHm(time.value);
    if (!hm) return refuse(t("time.invalid"), time);
    const units = [...unitBox.querySelectorAll("input[name=unit]:checked")].map((b) => b.value);
    if (!units.length) return refuse(t("schedule.no_units"), unitBox.querySelector("input[name=unit]"));
    const body = {
      title: title.value.trim(),
      units,
      starts_at: localToIso(`${isoDay}T${hm}`),
      record: record.checked,
      record_video: record.checked ? video.value : "none",
      place: place.value.trim(),
      agenda: [...agendaList.querySelectorAll("input[name=agenda]")].map((i) => i.value.trim()).filter(Boolean).map((v) => ({ title: v })),
    };
    try {
      if (editing) {
        const saved = await api.patch(`/api/meetings/${editing.id}`, body);
        navigate(`/meetings?updated=${saved.id}`);
      } else {
        const created = await api.post("/api/meetings", { ...body, chair_unit: chair.value });
        navigate(`/meetings?created=${created.id}`);
      }
    } catch (err) {
      refuse(err.message, err.details && err.details.field === "units" ? unitBox.querySelector("input[name=unit]") : null);
    }
  }

  mount(main,
    h("div.page-head", {}, h("h1", {}, editing ? t("schedule.edit_title") : t("schedule.title")),
      h("a.btn.ghost", { href: "#/meetings", "aria-label": t("common.back") }, "← ", t("common.back"))),
    h("form.card.form", { onsubmit: onSubmit, novalidate: true, "aria-label": editing ? t("schedule.edit_title") : t("schedule.title") },
      error,
      h("div.form-grid", {},
        h("div.field.wide", {}, h("label", { for: "m-title" }, t("meeting.title")), title),
        h("div.field", {}, h("span.label", { id: "m-when" }, t("meeting.when")),
          h("div.when-fields", { role: "group", "aria-labelledby": "m-when" },
            h("label.sr-only", { for: "m-date" }, t("schedule.date")), day,
            h("label.sr-only", { for: "m-time" }, t("schedule.time")), time),
          h("span.small.muted", {}, editing && editing.starts_at ? formatDateTime(editing.starts_at) : t("date.hint") + " · " + t("time.hint"))),
        h("div.field", {}, h("label", { for: "m-chair" }, t("meeting.chair_unit")), chair),
        h("div.field.wide", {}, h("label", { for: "m-place" }, t("meeting.place")), place),
        h("div.field.wide", {}, h("label.check", {}, record, " ", t("meeting.record")),
          h("p.small.muted", {}, t("schedule.record_hint"))),
        h("div.field", {}, h("label", { for: "m-video" }, t("schedule.video")), video,
          h("span.small.muted", {}, t("schedule.video_hint")))),
      unitBox,
      h("fieldset", {}, h("legend", {}, t("schedule.agenda")), agendaList,
        h("button.btn.small", { type: "button", "aria-label": t("schedule.agenda_add"), onclick: () => addAgenda("").focus() }, "+ ", t("schedule.agenda_add"))),
      h("div.form-actions", {}, h("button.btn.primary", { type: "submit", "aria-label": editing ? t("schedule.save") : t("schedule.submit") },
        editing ? t("schedule.save") : t("schedule.submit")))));
  title.focus();
}
