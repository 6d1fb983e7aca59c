// The chair's panel: roll-call of the connection points, and controls over the participants and the meeting.
import { h, mount } from "../dom.js";
import { formatDateTime, t } from "../i18n.js";

export const ROLL_STATUSES = ["present_online", "present_in_person", "absent", "not_called"];

/** Roll-call table; onSet(unit, status, reason). */
export function renderRollCall(container, entries, onSet) {
  const rows = entries.map((e) => {
    const status = h("select", { "aria-label": t("roll.status_for", { unit: e.unit_name }), "data-unit": e.unit },
      ROLL_STATUSES.map((s) => h("option", { value: s, selected: s === e.status }, t("roll." + s))));
    const reason = h("input.reason", { value: e.reason || "", placeholder: t("roll.reason"), maxlength: 500,
      "aria-label": t("roll.reason_for", { unit: e.unit_name }), hidden: status.value !== "absent" });
    status.addEventListener("change", () => {
      reason.hidden = status.value !== "absent";
      if (status.value === "absent") reason.focus();
      else onSet(e.unit, status.value, "");
    });
    const save = () => { if (status.value === "absent") onSet(e.unit, "absent", reason.value.trim()); };
    reason.addEventListener("change", save);
    reason.addEventListener("keydown", (ev) => { if (ev.key === "Enter") save(); });
    return h("tr", { "data-unit": e.unit, "data-status": e.status },
      h("td", {}, h("div", {}, h("span.dot.roll-" + e.status, { "aria-hidden": "true" }), e.unit_name),
        h("div.small.muted", {}, e.status_at ? formatDateTime(e.status_at) : "")),
      h("td", {}, status, reason));
  });
  const counts = ROLL_STATUSES.map((s) => `${t("roll." + s)}: ${entries.filter((e) => e.status === s).length}`).join(" · ");
  mount(container,
    h("p.small.muted", { "data-testid": "roll-summary" }, counts),
    h("table.table.compact", { "aria-label": t("roll.title") },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("roll.unit")), h("th", { scope: "col" }, t("roll.status")))),
      h("tbody", {}, rows)));
}

/** Meeting-wide controls: mute all, floor control, lock, end. */
export function renderMeetingControls(container, state, actions) {
  mount(container,
    h("div.chair-controls", {},
      h("button.btn.small", { type: "button", "aria-label": t("chair.mute_all"), onclick: actions.muteAll }, t("chair.mute_all")),
      h("button.btn.small", { type: "button", "aria-pressed": String(state.floorControl), "aria-label": t("chair.floor_control"),
        onclick: () => actions.floorControl(!state.floorControl) }, state.floorControl ? t("chair.floor_control_on") : t("chair.floor_control_off")),
      state.floor ? h("button.btn.small", { type: "button", "aria-label": t("chair.take_floor"), onclick: () => actions.giveFloor(null) }, t("chair.take_floor")) : null,
      h("button.btn.small", { type: "button", "aria-pressed": String(state.locked), "aria-label": state.locked ? t("chair.unlock") : t("chair.lock"),
        onclick: () => actions.lock(!state.locked) }, state.locked ? t("chair.unlock") : t("chair.lock")),
      state.canEnd ? h("button.btn.small.danger", { type: "button", "aria-label": t("chair.end"), onclick: actions.end }, t("chair.end")) : null));
}

/** Per-participant chair actions, appended to a participant row. */
export function participantActions(p, state, actions) {
  if (!state.canModerate || p.id === state.me) return null;
  return h("div.row-actions", {},
    state.floor === p.id
      ? h("button.btn.tiny", { type: "button", "aria-label": t("chair.take_floor_from", { name: p.unit_name }), onclick: () => actions.giveFloor(null) }, t("chair.take_floor"))
      : h("button.btn.tiny.primary", { type: "button", "aria-label": t("chair.give_floor_to", { name: p.unit_name }), onclick: () => actions.giveFloor(p.id) }, t("chair.give_floor")),
    h("button.btn.tiny", { type: "button", "aria-label": t("chair.mute_one", { name: p.unit_name }), disabled: p.server_muted && p.audio_muted,
      onclick: () => actions.mute(p.id) }, t("chair.mute")),
    h("button.btn.tiny", { type: "button", "aria-label": (p.may_share_screen ? t("chair.deny_screen") : t("chair.allow_screen")) + " " + p.unit_name,
      onclick: () => actions.allowScreen(p.id, !p.may_share_screen) }, p.may_share_screen ? t("chair.deny_screen") : t("chair.allow_screen")),
    h("button.btn.tiny.danger", { type: "button", "aria-label": t("chair.remove_one", { name: p.unit_name }),
      onclick: () => { if (confirm(t("chair.remove_confirm", { name: p.unit_name }))) actions.remove(p.id); } }, t("chair.remove")));
}
