"""``giaoban bot``: a real WebRTC participant that joins a meeting, plays a file and counts what it gets.

It is the connection-point test a technician runs before a meeting, and the load generator. What it receives
is counted per other participant after decoding (``--stats-json``, shape in the contract).
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


async def run_bot(opts: BotOptions, settings: Settings) -> ClientStats:
    token = await login(opts.server, opts.username, opts.password)
    duration = opts.duration_s
    if duration is None:
        duration = audio_length_s(opts.play) + TAIL_AFTER_PLAY_S if opts.play else DEFAULT_DURATION_S
    # the token goes in a header, never in the URL (a URL reaches access logs and proxies)
    ws_url = opts.server.replace("http", "ws", 1).rstrip("/") + f"/ws/meetings/{opts.meeting_id}"
    headers = {"Authorization": f"Bearer {token}"}
    async with websockets.connect(ws_url, additional_headers=headers, max_size=MAX_MESSAGE_BYTES) as ws:
        welcome = json.loads(await ws.recv())
        if welcome["type"] != "welcome":
            raise BotError(welcome.get("message", "không vào được cuộc họp"))
        pid = welcome["participant_id"]
        client = MediaClient(
            pid,
            ClientConfig(
                media=media_config(settings),
                audio_file=str(opts.play) if opts.play else None,
                video=opts.video,
            ),
        )
        try:
            await ws.send(json.dumps({"type": "join", "audio_only": False, "publish_video": opts.video}))
            if opts.speak:
                await ws.send(json.dumps({"type": "mute", "audio": False, "video": not opts.video}))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + duration
            while (left := deadline - loop.time()) > 0:
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=left)
                except TimeoutError:
                    break
                msg = json.loads(raw)
                kind = msg["type"]
                if kind == "offer":
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
                elif kind == "meeting_ended":
                    break
            stats = client.stats()
            try:
                await ws.send(json.dumps({"type": "leave"}))
            except websockets.ConnectionClosed:
                pass
        finally:
            await client.close()
    if opts.stats_json is not None:
        opts.stats_json.write_text(stats.to_json(), encoding="utf-8")
    return stats
