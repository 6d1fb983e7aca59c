// The chairing unit's wall of connection points (docs/signaling.md, "The chair's wall"): every other unit's
// thumbnail (a low-resolution copy of its camera), a page at a time. The chair pages; the server forwards
// only the page shown (`wall_page` → `wall`). A commune's screen has no wall. Each thumbnail is marked as the
// main tiles are (tiles.js flagNodes): the loudest speaker outlined, the floor holder, a raised hand and its
// turn, a microphone off, a poor link.
import { h, mount } from "../dom.js";
import { t } from "../i18n.js";
import { ensureLinkStyle } from "./links.js";
import { flagKinds, handQueue, tileMarks } from "./state.js";
import { flagNodes } from "./tiles.js";

function attach(el, track) {
  const cur = el.srcObject && el.srcObject.getTracks()[0];
  if (cur === track) return;
  el.srcObject = new MediaStream([track]);
  el.play().catch(() => {});
}

export class WallView {
  /** @param {(msg: object) => void} send  sends a signaling message */
  constructor(send) {
    this.send = send;
    this.wall = null; // the latest `wall` message
    this.remote = [];
    this.state = null; // the room state last drawn (the thumbnails' marks)
    this.tiles = new Map(); // participant id → {el, video, flags, name, key}
    this.label = h("span.wall-page", { "data-testid": "wall-page", role: "status", "aria-live": "polite" });
    this.prev = h("button.btn.ghost.small", { type: "button", onclick: () => this.go(-1) }, t("wall.prev"));
    this.next = h("button.btn.ghost.small", { type: "button", onclick: () => this.go(1) }, t("wall.next"));
    this.grid = h("div.wall-grid", { "data-testid": "wall-grid" });
    this.el = h(
      "section.wall",
      { "data-testid": "wall", "aria-label": t("wall.title"), hidden: true },
      h("header.wall-bar", {}, h("h2", {}, t("wall.title")), this.prev, this.label, this.next),
      this.grid,
    );
  }

  /** Ask for the first page (after joining media). */
  open() {
    this.el.hidden = false;
    this.send({ type: "wall_page", page: this.wall ? this.wall.page : 1 });
  }

  go(step) {
    if (!this.wall) return;
    const page = this.wall.page + step;
    if (page >= 1 && page <= this.wall.pages) this.send({ type: "wall_page", page });
  }

  /** A `wall` message: the page shown now. */
  show(wall) {
    this.wall = wall;
    this.label.textContent = t("wall.page", { page: wall.page, pages: wall.pages, total: wall.total });
    this.prev.disabled = wall.page <= 1;
    this.next.disabled = wall.page >= wall.pages;
    this.tiles = new Map();
    mount(
      this.grid,
      wall.units.map((u) => {
        const video = h("video.thumb", {
          autoplay: true,
          muted: true,
          playsInline: true,
          "data-participant": u.participant_id,
          "data-source": "thumbnail",
          "aria-label": t("room.video_of", { name: u.unit_name }),
        });
        const flags = h("div.wall-flags");
        const el = h(
          "figure.wall-tile",
          { "data-participant": u.participant_id, "data-unit": u.unit, title: u.unit_name },
          video,
          flags,
          h("figcaption", {}, u.unit_name),
        );
        this.tiles.set(u.participant_id, { el, video, flags, name: u.unit_name, key: "" });
        return el;
      }),
    );
    this._attach();
    if (this.state) this.update(this.state);
  }

  /** Mark the thumbnails from the room state; a thumbnail whose marks did not change is not written. */
  update(state) {
    this.state = state;
    if (!this.tiles.size) return;
    const hands = handQueue(state);
    for (const [pid, tile] of this.tiles) {
      const marks = tileMarks(state, pid, hands);
      const kinds = flagKinds(marks, { wall: true });
      // every mark (a hand's turn moves as the queue does), the link's figures only while it is flagged
      const key = JSON.stringify({ ...marks, link: kinds.includes("link") ? marks.link : null });
      if (key === tile.key) continue;
      tile.key = key;
      tile.el.classList.toggle("speaking", marks.active);
      tile.el.classList.toggle("floor", marks.floor);
      tile.el.title = marks.active ? `${tile.name} — ${t("wall.active")}` : tile.name;
      // the outlines in words, for a screen reader (the colours alone say nothing to it)
      const said = [tile.name, marks.active && t("wall.active"), marks.floor && t("wall.floor")];
      tile.el.setAttribute("aria-label", said.filter(Boolean).join(" — "));
      if (kinds.includes("link")) ensureLinkStyle();
      mount(tile.flags, flagNodes(marks, tile.name, { wall: true }));
    }
  }

  /** The session's remote tracks ([{mid, info, track}]): thumbnails go to their tile on the wall. */
  bind(list) {
    this.remote = list;
    this._attach();
  }

  _attach() {
    for (const { info, track } of this.remote) {
      if (info.source !== "thumbnail") continue;
      const tile = this.tiles.get(info.participant_id);
      if (tile) {
        attach(tile.video, track);
        tile.el.classList.add("has-video");
      }
    }
  }
}
