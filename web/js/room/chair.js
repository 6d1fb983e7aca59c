// The chair's panel: controls over the participants and the meeting, the queue of raised hands and the removed
// points (the roll-call is room/rollcall.js).
import { h, mount } from "../dom.js";
import { formatDateTime, t } from "../i18n.js";

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
  const key = JSON.stringify(state);
  if (container.dataset.key === key) return; // a redraw would replace the button under the chair's pointer
  container.dataset.key = key;
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

/**
 * The raised hands, in the order they were raised; the chair gives the floor from it ("Mời phát biểu"). Drawn
 * again only when the queue itself changes, so a button under the chair's pointer survives the meeting's other
 * events (a province meeting has 135 points joining, muting and speaking). queue: handQueue(state).
 */
export class HandQueueView {
  constructor(container, actions) {
    this.container = container;
    this.actions = actions;
    this.key = null;
  }

  update(queue, state) {
    const key = JSON.stringify([queue, state.me, state.canModerate]);
    if (key === this.key) return;
    this.key = key;
    const { container, actions } = this;
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

  /** Bring the queue into view and put the focus on its first "Mời phát biểu" (the room bar's hand badge). */
  reveal() {
    if (this.container.hidden) return;
    this.container.scrollIntoView({ block: "nearest" });
    const first = this.container.querySelector("button");
    if (first) first.focus({ preventScroll: true });
  }
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
