// The chair's panel: roll-call of the connection points, and controls over the participants and the meeting.
import { h, mount } from "../dom.js";
import { formatDateTime, t } from "../i18n.js";

export const ROLL_STATUSES = ["present_online", "present_in_person", "absent", "not_called"];

/**
 * The roll-call table, updated in place: rows are kept per unit, and a select or reason field that has the
 * focus is never rewritten, so a reason being typed survives every other event of the meeting.
 * rows: rollCallRows(state); actions: {set(unit, status, reason), draft(unit, status, reason), discard(unit)}.
 */
export class RollCallView {
  constructor(container, actions) {
    this.actions = actions;
    this.rows = new Map(); // unit → {tr, dot, name, at, select, reason}
    this.summary = h("p.small.muted", { "data-testid": "roll-summary" });
    this.tbody = h("tbody");
    mount(
      container,
      this.summary,
      h(
        "table.table.compact",
        { "aria-label": t("roll.title") },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("roll.unit")), h("th", { scope: "col" }, t("roll.status")))),
        this.tbody,
      ),
    );
  }

  _row(e) {
    const { actions } = this;
    const select = h(
      "select",
      { "aria-label": t("roll.status_for", { unit: e.unit_name }), "data-unit": e.unit },
      ROLL_STATUSES.map((s) => h("option", { value: s }, t("roll." + s))),
    );
    const reason = h("input.reason", {
      placeholder: t("roll.reason"),
      maxlength: 500,
      "aria-label": t("roll.reason_for", { unit: e.unit_name }),
    });
    select.addEventListener("change", () => {
      if (select.value === "absent") {
        actions.draft(e.unit, "absent", reason.value);
        reason.hidden = false;
        reason.focus();
      } else {
        actions.discard(e.unit);
        actions.set(e.unit, select.value, "");
      }
    });
    reason.addEventListener("input", () => actions.draft(e.unit, "absent", reason.value));
    const save = () => {
      if (select.value === "absent") actions.set(e.unit, "absent", reason.value.trim());
    };
    reason.addEventListener("change", save);
    reason.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") save();
    });
    const dot = h("span.dot", { "aria-hidden": "true" });
    const at = h("div.small.muted");
    const tr = h("tr", { "data-unit": e.unit }, h("td", {}, h("div", {}, dot, e.unit_name), at), h("td", {}, select, reason));
    return { tr, dot, at, select, reason };
  }

  update(rows) {
    const focused = typeof document !== "undefined" ? document.activeElement : null;
    const order = rows.map((e) => e.unit);
    for (const unit of [...this.rows.keys()]) {
      if (!order.includes(unit)) {
        this.rows.get(unit).tr.remove();
        this.rows.delete(unit);
      }
    }
    rows.forEach((e, i) => {
      let row = this.rows.get(e.unit);
      if (!row) {
        row = this._row(e);
        this.rows.set(e.unit, row);
      }
      if (this.tbody.children[i] !== row.tr) this.tbody.insertBefore(row.tr, this.tbody.children[i] || null);
      row.tr.dataset.status = e.confirmed; // what the server holds; a pending edit is marked apart
      row.tr.dataset.pending = e.pending ? "1" : "";
      row.dot.className = `dot roll-${e.confirmed}`;
      row.at.textContent = e.status_at ? formatDateTime(e.status_at) : "";
      if (focused !== row.select && row.select.value !== e.status) row.select.value = e.status;
      if (focused !== row.reason && row.reason.value !== e.reason) row.reason.value = e.reason;
      row.reason.hidden = e.status !== "absent" && focused !== row.reason;
    });
    const counts = ROLL_STATUSES.map((s) => `${t("roll." + s)}: ${rows.filter((e) => e.confirmed === s).length}`).join(" · ");
    if (this.summary.textContent !== counts) this.summary.textContent = counts;
  }
}

/**
 * The agenda item under discussion: the chair's choice sets its start (the video's chapter, the minutes).
 * Drawn again only when the agenda or its item changes (a redraw would close an open list).
 */
export function renderAgendaPicker(container, state, actions) {
  const key = JSON.stringify([state.agenda, state.agendaCurrent]);
  if (container.dataset.key === key) return;
  container.dataset.key = key;
  if (!state.agenda || !state.agenda.length) {
    container.replaceChildren();
    return;
  }
  const select = h(
    "select",
    { "aria-label": t("chair.agenda"), "data-testid": "agenda-item" },
    h("option", { value: "" }, t("chair.agenda_none")),
    state.agenda.map((a, i) => h("option", { value: String(a.id) }, `${i + 1}. ${a.title}`)),
  );
  select.value = state.agendaCurrent == null ? "" : String(state.agendaCurrent);
  select.addEventListener("change", () => actions.agendaItem(select.value === "" ? null : Number(select.value)));
  mount(container, h("label.agenda-picker", {}, h("span.small.muted", {}, t("chair.agenda")), select));
}

/** Meeting-wide controls: mute all, floor control, lock, end. */
export function renderMeetingControls(container, state, actions) {
  mount(
    container,
    h(
      "div.chair-controls",
      {},
      h("button.btn.small", { type: "button", "aria-label": t("chair.mute_all"), onclick: actions.muteAll }, t("chair.mute_all")),
      h(
        "button.btn.small",
        {
          type: "button",
          "aria-pressed": String(state.floorControl),
          "aria-label": t("chair.floor_control"),
          onclick: () => actions.floorControl(!state.floorControl),
        },
        state.floorControl ? t("chair.floor_control_on") : t("chair.floor_control_off"),
      ),
      state.floor
        ? h(
            "button.btn.small",
            { type: "button", "aria-label": t("chair.take_floor"), onclick: () => actions.giveFloor(null) },
            t("chair.take_floor"),
          )
        : null,
      h(
        "button.btn.small",
        {
          type: "button",
          "aria-pressed": String(state.locked),
          "aria-label": state.locked ? t("chair.unlock") : t("chair.lock"),
          onclick: () => actions.lock(!state.locked),
        },
        state.locked ? t("chair.unlock") : t("chair.lock"),
      ),
      state.canEnd
        ? h("button.btn.small.danger", { type: "button", "aria-label": t("chair.end"), onclick: actions.end }, t("chair.end"))
        : null,
    ),
  );
}

/** Per-participant chair actions, appended to a participant row. */
export function participantActions(p, state, actions) {
  if (!state.canModerate || p.id === state.me) return null;
  return h(
    "div.row-actions",
    {},
    state.floor === p.id
      ? h(
          "button.btn.tiny",
          { type: "button", "aria-label": t("chair.take_floor_from", { name: p.unit_name }), onclick: () => actions.giveFloor(null) },
          t("chair.take_floor"),
        )
      : h(
          "button.btn.tiny.primary",
          { type: "button", "aria-label": t("chair.give_floor_to", { name: p.unit_name }), onclick: () => actions.giveFloor(p.id) },
          t("chair.give_floor"),
        ),
    h(
      "button.btn.tiny",
      {
        type: "button",
        "aria-label": t("chair.mute_one", { name: p.unit_name }),
        disabled: p.server_muted && p.audio_muted,
        onclick: () => actions.mute(p.id),
      },
      t("chair.mute"),
    ),
    h(
      "button.btn.tiny",
      {
        type: "button",
        "aria-label": (p.may_share_screen ? t("chair.deny_screen") : t("chair.allow_screen")) + " " + p.unit_name,
        onclick: () => actions.allowScreen(p.id, !p.may_share_screen),
      },
      p.may_share_screen ? t("chair.deny_screen") : t("chair.allow_screen"),
    ),
    h(
      "button.btn.tiny.danger",
      {
        type: "button",
        "aria-label": t("chair.remove_one", { name: p.unit_name }),
        onclick: () => {
          if (confirm(t("chair.remove_confirm", { name: p.unit_name }))) actions.remove(p.id);
        },
      },
      t("chair.remove"),
    ),
  );
}

/** The raised hands, in the order they were raised; the chair invites from it. queue: handQueue(state). */
export function renderHandQueue(container, queue, state, actions) {
  if (!queue.length) {
    container.replaceChildren();
    container.hidden = true;
    return;
  }
  container.hidden = false;
  mount(
    container,
    h("h2.queue-title", { id: "hand-queue-title" }, t("room.hand_queue"), ` (${queue.length})`),
    h(
      "ol.hand-queue",
      { "aria-labelledby": "hand-queue-title", "data-testid": "hand-queue" },
      queue.map((e) =>
        h(
          "li",
          { "data-participant": e.id, "data-position": String(e.position) },
          h("span.queue-pos", { "aria-hidden": "true" }, String(e.position)),
          h("span.queue-name", {}, e.unit_name, e.id === state.me ? ` (${t("room.you")})` : ""),
          state.canModerate && e.id !== state.me
            ? h(
                "button.btn.tiny.primary",
                {
                  type: "button",
                  "aria-label": t("room.hand_queue_invite", { n: e.position, name: e.unit_name }),
                  onclick: () => actions.giveFloor(e.id),
                },
                t("chair.give_floor"),
              )
            : null,
        ),
      ),
    ),
  );
}

/** The participants the chair removed and not readmitted, each with "Cho vào lại". removed: state.removed. */
export function renderRemoved(container, removed, actions) {
  if (!removed.length) {
    container.replaceChildren();
    container.hidden = true;
    return;
  }
  container.hidden = false;
  mount(
    container,
    h("h2.queue-title", { id: "removed-title" }, t("chair.removed_title"), ` (${removed.length})`),
    h(
      "ul.removed-list",
      { "aria-labelledby": "removed-title", "data-testid": "removed-points" },
      removed.map((r) =>
        h(
          "li",
          { "data-participant": r.participant_id },
          h("div", {}, h("div.strong", {}, r.unit_name), h("div.small.muted", {}, r.display_name, " · ", formatDateTime(r.removed_at))),
          h(
            "button.btn.tiny.primary",
            {
              type: "button",
              "aria-label": t("chair.readmit_one", { name: r.unit_name }),
              onclick: () => actions.readmit(r.participant_id),
            },
            t("chair.readmit"),
          ),
        ),
      ),
    ),
  );
}
