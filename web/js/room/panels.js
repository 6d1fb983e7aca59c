// The side panel, drawn from the room state: the queue of raised hands above the tabs (in view whichever tab is
// open), the connection points (the chair's controls, everyone's microphone and floor), the chat, and the
// chair's roll-call.
import { h, mount } from "../dom.js";
import { fold } from "../fold.js";
import { t } from "../i18n.js";
import { icon } from "../icons.js";
import { HandQueueView, participantActions, renderAgendaPicker, renderMeetingControls, renderRemoved } from "./chair.js";
import { RollCallView } from "./rollcall.js";
import { foldedMatch, handQueue, isMuted, participant, personSearchText, rollCallRows, speakingNow } from "./state.js";
import { handFlag } from "./tiles.js";

const TABS = ["people", "chat", "roll"];
const BY_NAME = new Intl.Collator("vi"); // as localeCompare(…, "vi"), without building a collator per comparison

/** actions: {tab(id), sendChat(text), roll: {set, draft, discard}, chair: {...chair controls}}. */
export function createPanels(actions) {
  const tabs = TABS.map((id) =>
    h(
      "button.tab",
      { type: "button", role: "tab", id: `tab-${id}`, "aria-controls": `pane-${id}`, onclick: () => actions.tab(id) },
      t("room.tab_" + id),
    ),
  );
  const chairBox = h("div.chair-box");
  const agendaBox = h("div.agenda-box");
  const queueBox = h("section.queue-box", { hidden: true, "aria-label": t("room.hand_queue") });
  const removedBox = h("section.queue-box.removed-box", { hidden: true, "aria-label": t("chair.removed_title") });
  const peopleList = h("ul.people", { "aria-label": t("room.participants") });
  // the people tab's search, as the roll-call's: accents optional ("chu mo" finds UBND xã Chư Mố)
  const peopleSearch = h("input.roll-search.people-search", {
    type: "search",
    autocomplete: "off",
    placeholder: t("room.people_search"),
    "aria-label": t("room.people_search"),
    "data-testid": "people-search",
  });
  const peopleShown = h("p.small.muted.roll-shown", { "data-testid": "people-shown", role: "status", "aria-live": "polite", hidden: true });
  let peopleQuery = "";
  peopleSearch.addEventListener("input", () => {
    peopleQuery = fold(peopleSearch.value.trim());
    filterPeople();
  });
  const rollBox = h("div.roll-box", { "data-testid": "roll-call" });
  const chatLog = h("ol.chat-log", { "aria-live": "polite", "aria-label": t("room.chat") });
  const chatInput = h("input#chat-text", {
    maxlength: 2000,
    autocomplete: "off",
    "aria-label": t("room.chat_input"),
    placeholder: t("room.chat_input"),
  });
  const chatForm = h(
    "form.chat-form",
    { "aria-label": t("room.chat") },
    chatInput,
    h("button.btn.primary.small", { type: "submit", "aria-label": t("room.chat_send") }, t("room.chat_send")),
  );
  chatForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = chatInput.value.trim();
    if (!text) return;
    actions.sendChat(text);
    chatInput.value = "";
  });
  const panes = {
    people: h(
      "div.pane#pane-people",
      { role: "tabpanel", "aria-labelledby": "tab-people" },
      agendaBox,
      chairBox,
      removedBox,
      peopleSearch,
      peopleShown,
      peopleList,
    ),
    chat: h("div.pane#pane-chat", { role: "tabpanel", "aria-labelledby": "tab-chat" }, chatLog, chatForm),
    roll: h("div.pane#pane-roll", { role: "tabpanel", "aria-labelledby": "tab-roll" }, rollBox),
  };
  const roll = new RollCallView(rollBox, actions.roll);
  const queue = new HandQueueView(queueBox, actions.chair);
  const el = [queueBox, h("div.tabs", { role: "tablist" }, tabs), Object.values(panes)];

  let prev = null;
  let rows = new Map(); // participant id → {key, li, p, around, speaking, pos, name}
  let chatShown = []; // the chat messages in the log, in order

  function drawTabs(state) {
    for (const b of tabs) b.setAttribute("aria-selected", String(b.id === `tab-${state.tab}`));
    for (const [key, pane] of Object.entries(panes)) pane.hidden = key !== state.tab;
    tabs[1].textContent = t("room.tab_chat") + (state.chatUnread ? ` (${state.chatUnread})` : "");
    tabs[2].hidden = !state.canModerate;
  }

  function personRow(state, p, speaking, pos) {
    const muted = isMuted(p);
    const ctl = { me: state.me, floor: state.floor, canModerate: state.canModerate };
    return h(
      "li",
      { "data-participant": p.id },
      h(
        "div.person",
        {},
        h(
          "div",
          {},
          h("div.strong", {}, p.unit_name, p.id === state.me ? ` (${t("room.you")})` : ""),
          h("div.small.muted", {}, p.display_name || p.username),
        ),
        h(
          "div.flags",
          {},
          pos ? handFlag(pos) : null,
          speaking === p.id ? h("span.flag.floor", {}, t("room.speaking_now")) : null,
          h(
            "span",
            { class: "flag " + (muted ? "muted" : "live"), "aria-label": muted ? t("room.muted") : t("room.mic_open") },
            icon(muted ? "micOff" : "mic"),
          ),
        ),
      ),
      participantActions(p, ctl, actions.chair),
    );
  }

  function drawPeople(state) {
    const list = state.participants.slice();
    list.sort((a, b) => Number(b.is_chair_unit) - Number(a.is_chair_unit) || BY_NAME.compare(a.unit_name, b.unit_name));
    const speaking = speakingNow(state);
    const hands = handQueue(state);
    const positions = new Map(hands.map((e) => [e.id, e.position]));
    const next = new Map();
    const around = JSON.stringify([state.me, state.floor, state.canModerate]);
    // a row is rebuilt only when what it shows changed, so the chair's pointer and focus stay on its buttons;
    // the reducer replaces only the participant that changed, so the others are recognised by identity
    for (const p of list) {
      const pos = positions.get(p.id) || null;
      const old = rows.get(p.id);
      if (old && old.p === p && old.around === around && old.speaking === (speaking === p.id) && old.pos === pos) {
        next.set(p.id, old);
        continue;
      }
      const key = JSON.stringify([p, around, speaking === p.id, pos]);
      const li = old && old.key === key ? old.li : personRow(state, p, speaking, pos);
      next.set(p.id, { key, li, p, around, speaking: speaking === p.id, pos, name: personSearchText(p) });
    }
    const lis = [...next.values()].map((r) => r.li);
    if (lis.length !== peopleList.children.length || lis.some((li, i) => peopleList.children[i] !== li)) {
      for (const [i, li] of lis.entries()) if (peopleList.children[i] !== li) peopleList.insertBefore(li, peopleList.children[i] || null);
      while (peopleList.children.length > lis.length) peopleList.lastElementChild.remove();
    }
    rows = next;
    filterPeople();
    markSpeaker(state);
    queue.update(hands, state);
  }

  /** Hide the rows outside the search; the count shows while a search is typed. */
  function filterPeople() {
    let shown = 0;
    for (const r of rows.values()) {
      const visible = foldedMatch(r.name, peopleQuery);
      if (r.li.hidden === visible) r.li.hidden = !visible;
      if (visible) shown += 1;
    }
    peopleShown.hidden = !peopleQuery;
    const text = shown ? t("roll.shown", { n: shown, total: rows.size }) : t("roll.none_match");
    if (peopleShown.textContent !== text) peopleShown.textContent = text;
  }

  /** The loudest recent speaker's row is outlined: a class on two rows, nothing redrawn. */
  function markSpeaker(state) {
    for (const [pid, r] of rows) r.li.classList.toggle("speaking", state.activeSpeaker === pid);
  }

  function drawChair(state) {
    if (state.canModerate) {
      renderMeetingControls(
        chairBox,
        {
          floorControl: state.floorControl,
          locked: state.locked,
          floor: state.floor,
          canEnd: state.canEnd,
        },
        actions.chair,
      );
      renderAgendaPicker(agendaBox, { agenda: state.agenda || [], agendaCurrent: state.agendaCurrent ?? null }, actions.chair);
    } else {
      chairBox.replaceChildren();
      delete chairBox.dataset.key;
      renderAgendaPicker(agendaBox, { agenda: [], agendaCurrent: null }, actions.chair);
    }
  }

  function chatItem(state, m) {
    const p = participant(state, m.participant_id);
    return h(
      "li",
      {},
      h("span.chat-who", {}, p ? p.unit_name : m.username),
      " ",
      h("time.small.muted", { datetime: m.at }, new Date(m.at).toLocaleTimeString()),
      h("div", {}, m.text),
    );
  }

  function drawChat(state) {
    const n = chatShown.length;
    const extends_ = n <= state.chat.length && (n === 0 || state.chat[n - 1] === chatShown[n - 1]);
    if (extends_) {
      for (const m of state.chat.slice(n)) chatLog.append(chatItem(state, m));
    } else {
      mount(
        chatLog,
        state.chat.map((m) => chatItem(state, m)),
      );
    }
    while (chatLog.children.length > state.chat.length) chatLog.firstElementChild.remove();
    if (state.chat.length !== n) chatLog.scrollTop = chatLog.scrollHeight;
    chatShown = state.chat;
  }

  function update(state) {
    const changed = (...keys) => !prev || keys.some((k) => prev[k] !== state[k]);
    if (changed("tab", "chatUnread", "canModerate")) drawTabs(state);
    if (changed("participants", "me", "floor", "canModerate", "hands")) drawPeople(state);
    else if (changed("activeSpeaker")) markSpeaker(state);
    if (changed("floor", "floorControl", "locked", "canModerate", "canEnd", "agenda", "agendaCurrent")) drawChair(state);
    if (changed("chat")) drawChat(state);
    if (changed("removed", "canModerate")) renderRemoved(removedBox, state.canModerate ? state.removed : [], actions.chair);
    if (state.canModerate && changed("rollCall", "rollDrafts", "canModerate")) roll.update(rollCallRows(state));
    prev = state;
  }

  return { el, update, revealQueue: () => queue.reveal() };
}
