"""``giaoban bot``: a real WebRTC participant that joins a meeting, plays a file and counts what it gets.

It is the connection-point test a technician runs before a meeting, and the load generator. What it receives
is counted per other participant after decoding (``--stats-json``, shape in the contract; its ``sessions``
lists each connection apart). On a site of several processes it follows the ``redirect`` to the meeting's
node, and when that connection is lost (the node died) it reconnects through ``--server`` until its duration
ends: the meeting is placed on a healthy node and the bot joins it there.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets

from server.config import Settings
from server.media import ClientConfig, ClientStats, MediaClient, Offer, StreamLabel
from server.media.stats import RemoteParticipantStats
from server.media_settings import media_config

log = logging.getLogger(__name__)

DEFAULT_DURATION_S = 10.0
TAIL_AFTER_PLAY_S = 2.0
MAX_MESSAGE_BYTES = 1 << 20


class BotError(Exception):
    """The bot could not log in or join (the message says why, in Vietnamese)."""


@dataclass(frozen=True)
class BotOptions:
    server: str
    meeting_id: int
    username: str
    password: str
    play: Path | None = None
    video: bool = False
    duration_s: float | None = None
    stats_json: Path | None = None
    speak: bool = True  # unmute once allowed (asks for the floor by raising a hand)
    thumbnail: bool = False  # with video: also publish the wall's low-resolution copy of the camera
    wall_every_s: float | None = None  # show the chair's wall, the next page every this many seconds
    captions_json: Path | None = None  # ask for live captions; the final ones received are written here


class WallWatcher:
    """The chairing unit's wall as a bot shows it: page 1, then the next page every ``every_s`` (cycling);
    per page shown, what arrived of each unit's thumbnail and camera (``--stats-json`` ``wall``), counted from
    ``SETTLE_S`` after the page's ``wall`` message: a new page's thumbnails may arrive on the old page's
    m-lines until the offer that relabels them is answered."""

    SETTLE_S = 1.0

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self.page, self.pages = 1, 1
        self.next_at: float | None = None
        self.phases: list[dict[str, Any]] = []
        self.settle_at: float | None = None  # when the page shown now starts being counted
        self._pending: dict[str, Any] | None = None
        self._open: tuple[dict[str, Any], float, dict[tuple[str, str], tuple[int, int]]] | None = None

    def request(self, now: float) -> str:
        """The ``wall_page`` message to send now (the first page, then the next one)."""
        if self.next_at is not None:
            self.page = self.page % self.pages + 1
        self.next_at = now + self.every_s
        return json.dumps({"type": "wall_page", "page": self.page})

    def shown(self, msg: dict[str, Any], client: MediaClient, now: float) -> None:
        """A ``wall`` message: the page shown from now on (counted once settled: `tick`)."""
        self.close(client, now)
        self.page, self.pages = int(msg["page"]), int(msg["pages"])
        self._pending = {"page": self.page, "pages": self.pages, "units": [u["unit"] for u in msg["units"]]}
        self.settle_at = now + self.SETTLE_S

    def tick(self, client: MediaClient, now: float) -> None:
        """Start counting the page shown once it settled."""
        if self._pending is not None and self.settle_at is not None and now >= self.settle_at:
            self._open = (self._pending, now, client.video_by_source())
            self._pending, self.settle_at = None, None

    def close(self, client: MediaClient, now: float) -> None:
        self._pending, self.settle_at = None, None  # shown for less than SETTLE_S: not counted
        if self._open is None:
            return
        phase, started, before = self._open
        self._open = None
        seconds = max(now - started, 1e-3)
        phase["seconds"] = round(seconds, 2)
        for source in ("thumbnail", "camera"):
            phase[f"{source}s"] = {
                unit: {"frames": frames - before.get((unit, s), (0, 0))[0],
                       "kbps": round((size - before.get((unit, s), (0, 0))[1]) * 8 / seconds / 1000, 1)}
                for (unit, s), (frames, size) in client.video_by_source().items()
                if s == source
            }
        self.phases.append(phase)


def audio_length_s(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        return float(container.duration or 0) / 1_000_000


async def login(server: str, username: str, password: str) -> str:
    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        r = await http.post("/api/auth/login", json={"username": username, "password": password})
    if r.status_code != 200:
        raise BotError(r.json().get("error", {}).get("message", r.text))
    return str(r.json()["access_token"])


def _offer(pid: str, msg: dict[str, Any]) -> Offer:
    streams = tuple(
        StreamLabel(
            mid=s["mid"],
            participant_id=s["participant_id"],
            username=s["username"],
            unit=s["unit"],
            kind=s["kind"],
            source=s["source"],
        )
        for s in msg["streams"]
    )
    return Offer(participant_id=pid, sdp=msg["sdp"], streams=streams)


class _Refused(Exception):
    """The server answered the socket with an error and a close code that may clear up (1013: try again)."""


FINAL_CLOSE_CODES = frozenset({1000, 4000, 4001, 4400, 4401, 4403, 4404, 4409, 4410, 4429})
CLOSE_REDIRECT = 4307
MAX_REDIRECTS = 3
RETRY_FIRST_S = 0.3  # reconnect backoff after a lost node: 0.3, 0.6, 1.2, 2, 2, ... seconds
RETRY_MAX_S = 2.0


def _merge(parts: list[ClientStats]) -> ClientStats:
    """What each other participant sent, over every connection of this bot (a reconnect starts a new peer)."""
    merged: dict[str, dict[str, Any]] = {}
    for stats in parts:
        for p in stats.participants:
            e = merged.setdefault(p.username, {**p.__dict__, "audio_frames": 0, "video_frames": 0,
                                               "packets_lost": 0, "decode_errors": 0, "video_streams": 0})
            for k in ("audio_frames", "video_frames", "packets_lost", "decode_errors", "video_streams"):
                e[k] += getattr(p, k)
            for k in ("first_audio_ms", "first_video_ms"):
                e[k] = e[k] if e[k] is not None else getattr(p, k)
    return ClientStats(tuple(RemoteParticipantStats(**e) for e in merged.values()))


async def _open(entry_url: str, headers: dict[str, str]) -> tuple[Any, dict[str, Any], str]:
    """A socket welcomed into the meeting, following the site's redirects (``redirect`` + 4307)."""
    url = entry_url
    for _ in range(MAX_REDIRECTS + 1):
        ws = await websockets.connect(url, additional_headers=headers, max_size=MAX_MESSAGE_BYTES)
        first = json.loads(await ws.recv())
        if first["type"] == "welcome":
            return ws, first, url
        await ws.wait_closed()
        if first["type"] == "redirect":
            log.info("redirected to %s", first["url"])
            url = first["url"]
            continue
        message = first.get("message", "không vào được cuộc họp")
        if ws.close_code in FINAL_CLOSE_CODES:
            raise BotError(message)
        raise _Refused(message)
    raise BotError("Chuyển hướng quá nhiều lần.")


async def run_bot(opts: BotOptions, settings: Settings) -> ClientStats:
    """Join, play, count until the duration ends or the meeting does. A connection lost (its node died, a
    network cut) is retried from ``opts.server``, which sends the bot to the meeting's node again."""
    token = await login(opts.server, opts.username, opts.password)
    duration = opts.duration_s
    if duration is None:
        duration = audio_length_s(opts.play) + TAIL_AFTER_PLAY_S if opts.play else DEFAULT_DURATION_S
    # the token goes in a header, never in the URL (a URL reaches access logs and proxies)
    ws_url = opts.server.replace("http", "ws", 1).rstrip("/") + f"/ws/meetings/{opts.meeting_id}"
    headers = {"Authorization": f"Bearer {token}"}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + duration
    sessions: list[tuple[str, ClientStats]] = []
    wall = WallWatcher(opts.wall_every_s) if opts.wall_every_s else None
    captions: list[dict[str, Any]] = []  # every caption received, over every connection
    wait_s = RETRY_FIRST_S
    while loop.time() < deadline:
        try:
            ws, welcome, url = await _open(ws_url, headers)
        except (OSError, websockets.InvalidHandshake, websockets.ConnectionClosed, _Refused) as exc:
            if not sessions and not isinstance(exc, _Refused):
                raise  # never reached the meeting: as before, the caller sees why
            log.info("bot %s: reconnecting in %.1f s (%s)", opts.username, wait_s, exc)
            await asyncio.sleep(min(wait_s, max(0.0, deadline - loop.time())))
            wait_s = min(wait_s * 2, RETRY_MAX_S)
            continue
        if sessions:
            print(f"bot {opts.username}: đã kết nối lại ({url})", flush=True)
        wait_s = RETRY_FIRST_S
        stats, go_on = await _session(opts, settings, ws, welcome, deadline, wall, captions)
        sessions.append((url, stats))
        if not go_on:
            break
    if not sessions:
        raise BotError("Không vào được cuộc họp trong thời gian chạy.")
    stats = _merge([s for _, s in sessions])
    if opts.captions_json is not None:
        finals = [c for c in captions if c.get("final") and c.get("text")]  # an empty one withdrew a partial
        out_captions = [{k: c[k] for k in ("unit", "text", "start", "end")} for c in finals]
        opts.captions_json.write_text(
            json.dumps({"captions": out_captions}, ensure_ascii=False), encoding="utf-8"
        )
    if opts.stats_json is not None:
        out = stats.to_dict()
        out["sessions"] = [{"url": url, **s.to_dict()} for url, s in sessions]  # type: ignore[dict-item]
        if wall is not None:
            out["wall"] = wall.phases  # type: ignore[assignment]
        opts.stats_json.write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")
    return stats


async def _session(
    opts: BotOptions,
    settings: Settings,
    ws: Any,
    welcome: dict[str, Any],
    deadline: float,
    wall: WallWatcher | None = None,
    captions: list[dict[str, Any]] | None = None,
) -> tuple[ClientStats, bool]:
    """One welcomed socket until the deadline, the meeting's end or the connection's loss; the stats and
    whether to reconnect (the connection was lost, not closed for good)."""
    pid = welcome["participant_id"]
    client = MediaClient(
        pid,
        ClientConfig(
            media=media_config(settings),
            audio_file=str(opts.play) if opts.play else None,
            video=opts.video,
        ),
    )
    go_on = False
    try:
        try:
            await _converse(opts, ws, client, pid, deadline, wall, captions)
        except websockets.ConnectionClosed:
            go_on = ws.close_code not in FINAL_CLOSE_CODES
            log.info("bot %s: connection closed (%s)", opts.username, ws.close_code)
        stats = client.stats()
        if not go_on:
            try:
                await ws.send(json.dumps({"type": "leave"}))
            except websockets.ConnectionClosed:
                pass
            await ws.close()
    finally:
        await client.close()
    return stats, go_on


async def _converse(
    opts: BotOptions,
    ws: Any,
    client: MediaClient,
    pid: str,
    deadline: float,
    wall: WallWatcher | None = None,
    captions: list[dict[str, Any]] | None = None,
) -> None:
    """Join, answer offers, ask for the floor (and for captions), until the deadline or the meeting's end (a
    lost connection raises ``ConnectionClosed``)."""
    loop = asyncio.get_running_loop()
    await ws.send(json.dumps({"type": "join", "audio_only": False, "publish_video": opts.video,
                              "publish_thumbnail": opts.video and opts.thumbnail}))
    if wall is not None:
        wall.next_at = None
        await ws.send(wall.request(loop.time()))
    if opts.captions_json is not None:
        await ws.send(json.dumps({"type": "captions", "enabled": True}))
    if opts.speak:
        await ws.send(json.dumps({"type": "mute", "audio": False, "video": not opts.video}))
    try:
        await _exchange(opts, ws, client, pid, deadline, wall, captions)
    finally:
        if wall is not None:
            wall.close(client, loop.time())


async def _exchange(
    opts: BotOptions,
    ws: Any,
    client: MediaClient,
    pid: str,
    deadline: float,
    wall: WallWatcher | None,
    captions: list[dict[str, Any]] | None,
) -> None:
    loop = asyncio.get_running_loop()
    while (left := deadline - loop.time()) > 0:
        if wall is not None:
            wall.tick(client, loop.time())
            if wall.next_at is not None and wall.next_at <= loop.time():
                await ws.send(wall.request(loop.time()))
            for at in (wall.next_at, wall.settle_at):
                if at is not None:
                    left = min(left, max(0.0, at - loop.time()))
        try:
            raw = await asyncio.wait_for(ws.recv(), timeout=left)
        except TimeoutError:
            continue
        msg = json.loads(raw)
        kind = msg["type"]
        if kind == "wall" and wall is not None:
            wall.shown(msg, client, loop.time())
        elif kind == "thumbnail":  # whether a wall shows our thumbnail now
            client.pause("thumbnail", not msg["send"])
        elif kind == "offer":
            answer = await client.accept_offer(_offer(pid, msg))
            await ws.send(json.dumps({"type": "answer", "sdp": answer}))
        elif kind == "error":
            log.info("bot %s: %s (%s)", opts.username, msg["message"], msg["code"])
            if msg["code"] == "floor_required":
                await ws.send(json.dumps({"type": "raise_hand", "raised": True}))
        elif kind == "participant_updated" and msg["participant"]["id"] == pid and opts.speak:
            me = msg["participant"]
            if me["audio_muted"] and not me["server_muted"]:
                await ws.send(json.dumps({"type": "mute", "audio": False}))
        elif kind == "caption" and captions is not None:
            captions.append(msg)
        elif kind == "meeting_ended":
            return
