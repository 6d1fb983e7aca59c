// The video grid and the screen stage, drawn from the room state. One tile per other participant whose media
// this page receives, labelled with its unit; tiles keep their place (moving a playing <video> pauses it).
import { h, mount } from "../dom.js";
import { t } from "../i18n.js";
import { icon } from "../icons.js";
import { ensureLinkStyle, linkFlag, pausedFlag, showOwnLink } from "./links.js";
import { flagKinds, handQueue, linkOf, participant, screenSharer, shortUnitName, tileIds, tileMarks, unitNameOf } from "./state.js";

function attach(el, track) {
  const cur = el.srcObject && el.srcObject.getTracks()[0];
  if (cur === track) return;
  el.srcObject = new MediaStream([track]);
  el.play().catch(() => {});
}

/** The raised-hand flag of a tile or a row of the panel: the hand and its turn in the queue. */
export function handFlag(position) {
  const label = t("room.hand_queue_pos", { n: position });
  return h("span.flag.hand", { title: label, "aria-label": label }, icon("hand"), ` ${position}`);
}

const FLAGS = {
  link: (marks, unitName) => linkFlag(marks.link, unitName),
  paused: (marks, unitName, paused) => paused,
  speaking: () => h("span.flag.floor", {}, t("room.speaking_now")),
  hand: (marks) => handFlag(marks.hand),
  muted: () => h("span.flag.muted", { title: t("room.muted"), "aria-label": t("room.muted") }, icon("micOff")),
};

/** The flags of a tile or a wall thumbnail from its marks (state.js tileMarks, flagKinds): link quality, video
 * paused (`paused`: pausedFlag's element), floor, raised hand, microphone off. */
export function flagNodes(marks, unitName, { wall = false, paused = null } = {}) {
  return flagKinds(marks, { wall, paused: Boolean(paused) }).map((kind) => FLAGS[kind](marks, unitName, paused));
}

export class TileView {
  constructor(grid, stage) {
    this.grid = grid;
    this.stage = stage;
    this.tiles = new Map(); // participant id → {el, video, audio, name, flags, avatar, screenEl, screenVideo}
    this.remote = [];
    // this page's own connection point as the server measures it (link_quality), above the grid
    this.own = h("p.own-link", { "data-testid": "own-link", role: "status", hidden: true });
  }

  _tile(state, pid) {
    let tile = this.tiles.get(pid);
    if (tile) return tile;
    const video = h("video.remote", { autoplay: true, muted: true, playsInline: true, "data-participant": pid, "data-source": "camera" });
    const audio = h("audio", { autoplay: true, "data-participant": pid });
    const name = h("div.tile-name");
    const flags = h("div.tile-flags");
    const avatar = h("div.avatar", { "aria-hidden": "true" });
    const el = h("figure.tile", { "data-participant": pid, tabindex: "0" }, video, avatar, audio, h("figcaption", {}, name, flags));
    this.grid.append(el);
    tile = { el, video, audio, name, flags, avatar, screenEl: null, screenVideo: null, unitName: null };
    this.tiles.set(pid, tile);
    this._label(tile, unitNameOf(state, pid));
    return tile;
  }

  _label(tile, unitName) {
    if (tile.unitName === unitName) return;
    tile.unitName = unitName;
    tile.name.textContent = unitName;
    tile.avatar.textContent = shortUnitName(unitName);
    tile.el.setAttribute("aria-label", t("room.tile_of", { name: unitName }));
    tile.video.setAttribute("aria-label", t("room.video_of", { name: unitName }));
    tile.audio.setAttribute("aria-label", t("room.audio_of", { name: unitName }));
  }

  _remove(pid) {
    const tile = this.tiles.get(pid);
    if (!tile) return;
    tile.el.remove();
    if (tile.screenEl) tile.screenEl.remove();
    this.tiles.delete(pid);
  }

  /** Forget every tile (a reconnect starts a new peer connection). */
  clear() {
    for (const pid of [...this.tiles.keys()]) this._remove(pid);
    this.remote = [];
    this.stage.hidden = true;
    this.stage.replaceChildren();
  }

  /** The session's remote tracks ([{mid, info: StreamInfo, track}]): attached to their tiles on each update. */
  bind(state, list) {
    this.remote = list;
    this.update(state);
  }

  _attachRemote(state) {
    for (const { mid, info, track } of this.remote) {
      const tile = info.participant_id !== state.me && this.tiles.get(info.participant_id);
      if (!tile || info.source === "thumbnail") continue; // thumbnails go to the chair's wall (wall.js)
      if (info.kind === "audio") {
        attach(tile.audio, track);
        tile.audio.dataset.mid = mid;
      } else if (info.source === "screen") {
        if (!tile.screenEl) {
          const label = t("room.screen_of", { name: info.unit_name });
          tile.screenVideo = h("video.screen", {
            autoplay: true,
            muted: true,
            playsInline: true,
            "data-participant": info.participant_id,
            "data-source": "screen",
            "aria-label": label,
          });
          tile.screenEl = h("figure.screen-tile", {}, tile.screenVideo, h("figcaption", {}, label));
        }
        attach(tile.screenVideo, track);
        tile.screenVideo.dataset.mid = mid;
      } else {
        attach(tile.video, track);
        tile.video.dataset.mid = mid;
        tile.el.classList.add("has-video");
      }
    }
  }

  update(state) {
    const wanted = new Set(tileIds(state));
    for (const pid of [...this.tiles.keys()]) if (!wanted.has(pid) && !participant(state, pid)) this._remove(pid);
    for (const { info } of this.remote) if (participant(state, info.participant_id)) wanted.add(info.participant_id);
    wanted.delete(state.me);
    for (const pid of wanted) this._tile(state, pid);
    this._attachRemote(state);
    this.grid.classList.toggle("audio-only", state.audioOnly);
    const hands = handQueue(state);
    for (const [pid, tile] of this.tiles) {
      const p = participant(state, pid);
      if (!p) continue;
      this._label(tile, p.unit_name);
      tile.el.title = `${p.unit_name} — ${p.display_name || p.username}`;
      const marks = tileMarks(state, pid, hands);
      tile.el.classList.toggle("speaking", marks.active);
      tile.el.classList.toggle("floor", marks.floor);
      tile.el.dataset.unit = p.unit;
      // the server holds this video back to spare this page's link, or sends it as the thumbnail
      const paused = pausedFlag(state, pid);
      tile.el.classList.toggle("video-paused", Boolean(paused) && paused.dataset.testid === "video-paused");
      mount(tile.flags, flagNodes(marks, p.unit_name, { paused }));
    }
    this.grid.dataset.count = String(this.tiles.size);
    this._ownLink(state);
    this._stage(state);
  }

  _ownLink(state) {
    const line = linkOf(state, state.me);
    if (line) ensureLinkStyle();
    if (line && !this.own.isConnected && this.grid.parentNode) this.grid.parentNode.insertBefore(this.own, this.grid);
    showOwnLink(this.own, line);
  }

  _stage(state) {
    const pid = screenSharer(state);
    const tile = pid && this.tiles.get(pid);
    if (tile && tile.screenEl) {
      if (tile.screenEl.parentNode !== this.stage) mount(this.stage, tile.screenEl);
      this.stage.hidden = false;
    } else {
      this.stage.hidden = true;
      this.stage.replaceChildren();
    }
  }
}
