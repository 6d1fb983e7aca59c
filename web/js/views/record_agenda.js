// The agenda beside the record page's player (issue 20 item 3): each item with its start in the recording (the
// composed video's chapters, web/js/chapters.js), the item playing highlighted as the player moves, a click plays
// from its start. Items the meeting never opened are listed after, without a time. Beside the player on a wide
// screen, under it on a phone (web/css/app.css `.player-with-agenda`).
import { agendaChapters, chapterAt } from "../chapters.js";
import { clock, h, mount } from "../dom.js";
import { t } from "../i18n.js";

/** `agenda`: the meeting's items; `player`: the page's media element; `seek(seconds, play)`: the page's. */
export function recordAgenda({ agenda, player, seek }) {
  const list = h("ol.agenda-chapters", { "aria-labelledby": "agenda-h" });
  const box = h(
    "nav.record-agenda",
    { "aria-labelledby": "agenda-h", "data-testid": "record-agenda" },
    h("h3#agenda-h.small", {}, t("record.agenda")),
    list,
  );
  let chapters = [];
  let current = -1;

  function draw(length) {
    const made = agendaChapters(agenda, t("record.agenda_opening"), length);
    chapters = made.chapters;
    box.hidden = chapters.length === 0; // a meeting whose chair never moved the agenda: nothing to go to
    mount(
      list,
      chapters.map((c, i) =>
        h(
          "li",
          { "data-index": i, "data-start": c.start, "data-item-id": c.id },
          h(
            "button.agenda-jump",
            {
              type: "button",
              "aria-label": t("record.agenda_go", { at: clock(c.start), title: c.title }),
              onclick: () => seek(c.start, true),
            },
            h("span.time", {}, clock(c.start)),
            h("span.agenda-title", {}, c.title),
          ),
        ),
      ),
      made.unplayed.map((a) =>
        h(
          "li.unplayed",
          { "data-item-id": a.id },
          h("span.time", {}, "—"),
          h("span.agenda-title", {}, a.title, " ", h("span.small.muted", {}, `(${t("record.agenda_unplayed")})`)),
        ),
      ),
    );
    current = -1;
    follow();
  }

  function follow() {
    const now = chapterAt(chapters, player.currentTime);
    if (now === current) return;
    current = now;
    for (const li of list.querySelectorAll("li.current")) {
      li.classList.remove("current");
      li.removeAttribute("aria-current");
    }
    const li = now >= 0 ? list.querySelector(`li[data-index="${now}"]`) : null;
    if (li) {
      li.classList.add("current");
      li.setAttribute("aria-current", "true");
      // kept in view inside the list only: the page itself does not move under the reader
      if (li.offsetTop < list.scrollTop || li.offsetTop + li.offsetHeight > list.scrollTop + list.clientHeight)
        list.scrollTop = li.offsetTop;
    }
  }

  player.addEventListener("timeupdate", follow);
  player.addEventListener("seeking", follow);
  // the recording's length known: items opened after its end are not in it
  player.addEventListener("loadedmetadata", () => {
    if (Number.isFinite(player.duration)) draw(player.duration);
  });
  draw(Infinity);
  return { box };
}
