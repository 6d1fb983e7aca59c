"""The signaling WebSocket ``/ws/meetings/{id}`` (see ``docs/signaling.md``).

Authenticated by a one-use ticket (``?ticket=``, ``POST /api/auth/ws-ticket``: the web client), a bearer
header (the bot), the session cookie or a ``token`` query parameter (outside clients; the access log redacts
it).
Close codes: 4401 no valid session, or the session ended while the socket was open (logout, expiry), 4403 not
invited / locked / removed (4410), 4404 unknown meeting, 4409 meeting not live, 4400 a malformed, unknown,
too deeply nested or oversized message, 1009 a frame over 4x the message limit, 4429 a flood. One peer's bad
input closes that peer only, always with one of these codes. On a site of several processes, a socket for a
meeting held by another node gets ``redirect`` (that node's socket URL) and 4307; Redis unreachable for a
meeting not held here: ``error`` ``site_unavailable`` and 1013 (try again later).
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from server.api.socket_auth import SESSION_ENDED_CODE, SESSION_ENDED_MESSAGE, SessionWatch, authenticate
from server.errors import Conflict, Forbidden, GiaobanError, NotFound, Unauthenticated
from server.live import LiveMeetings
from server.media import MediaError
from server.rooms import messages as m
from server.site.node import socket_url

log = logging.getLogger(__name__)
router = APIRouter()

FLOOD_BURST = 40  # messages allowed at once before the sustained rate applies
MAX_JSON_DEPTH = 32  # nesting of arrays and objects in one message (ours need 4)
_JSON_SYNTAX_RE = re.compile(r'[\[\]{}"\\]')


class TokenBucket:
    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate, self.capacity = rate_per_s, float(burst)
        self.tokens, self.at = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


async def _refuse(ws: WebSocket, code: int, error: str, message: str) -> None:
    await ws.send_text(m.ErrorOut(code=error, message=message).model_dump_json())
    await ws.close(code=code, reason=error)


@router.websocket("/ws/meetings/{meeting_id}")
async def meeting_socket(ws: WebSocket, meeting_id: int) -> None:
    await ws.accept()
    app = ws.app
    settings = app.state.settings
    live: LiveMeetings = app.state.live
    try:
        info = await authenticate(ws)
    except Unauthenticated as exc:
        await _refuse(ws, m.CLOSE_UNAUTHENTICATED, exc.code, exc.message)
        return
    actor = info.actor

    async def send(msg: m.ServerMessage) -> None:
        await ws.send_text(msg.model_dump_json())

    async def close(code: int, reason: str) -> None:
        await ws.close(code=code, reason=reason)

    try:  # on a site, the meeting may be held by another node: the client goes there
        node_url = await live.route(meeting_id)
    except GiaobanError as exc:  # Redis down and the meeting not held here: try again later
        await _refuse(ws, m.CLOSE_TRY_AGAIN, exc.code, exc.message)
        return
    if node_url is not None:
        await ws.send_text(m.Redirect(url=socket_url(node_url, meeting_id)).model_dump_json())
        await ws.close(code=m.CLOSE_REDIRECT, reason="redirect")
        return
    try:
        conn = await live.connect(actor, meeting_id, send, close)
    except NotFound as exc:
        await _refuse(ws, m.CLOSE_NOT_FOUND, exc.code, exc.message)
        return
    except Forbidden as exc:  # removed by the chair (code "removed"): 4410 until readmitted
        close_code = m.CLOSE_REMOVED if exc.code == "removed" else m.CLOSE_FORBIDDEN
        await _refuse(ws, close_code, exc.code, exc.message)
        return
    except Conflict as exc:
        await _refuse(ws, m.CLOSE_NOT_LIVE, "not_live", exc.message)
        return

    async def session_ended() -> None:
        await _refuse(ws, m.CLOSE_UNAUTHENTICATED, SESSION_ENDED_CODE, SESSION_ENDED_MESSAGE)

    watch = SessionWatch(ws, info, session_ended).start()
    bucket = TokenBucket(settings.max_messages_per_s, FLOOD_BURST)
    reason = "disconnected"
    try:
        while not conn.closed:
            frame = await ws.receive()
            if frame["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(frame.get("code", 1000))
            raw = frame.get("text")
            if raw is None:
                reason = "bad_message"
                await _refuse(
                    ws, m.CLOSE_BAD_MESSAGE, reason, "Chỉ nhận tin nhắn văn bản JSON, không nhận nhị phân."
                )
                break
            if len(raw.encode("utf-8")) > settings.max_message_bytes:
                reason = "message_too_large"
                await _refuse(
                    ws, m.CLOSE_BAD_MESSAGE, reason, f"Tin nhắn vượt quá {settings.max_message_bytes} byte."
                )
                break
            if not bucket.take():
                reason = "flood"
                await _refuse(ws, m.CLOSE_TOO_MANY, "too_many_messages", "Gửi quá nhiều tin nhắn.")
                break
            msg = _parse(raw)
            if isinstance(msg, m.ErrorOut):
                reason = msg.code
                await _refuse(ws, m.CLOSE_BAD_MESSAGE, msg.code, msg.message)
                break
            try:
                await live.handle(conn, msg)
            except MediaError as exc:
                reason = "bad_sdp"
                log.info("meeting %s: %s sent bad media input: %s", meeting_id, conn.participant_id, exc)
                await _refuse(ws, m.CLOSE_BAD_MESSAGE, "bad_sdp", f"SDP không hợp lệ: {exc}")
                break
    except WebSocketDisconnect:
        pass
    except RuntimeError as exc:  # the socket was closed under us (meeting ended, replaced)
        log.debug("socket closed: %s", exc)
    finally:
        await watch.stop()
        await live.disconnect(conn, reason)


def json_depth_exceeds(raw: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays and objects nest deeper than ``limit`` (brackets inside strings do not count).

    Checked before ``json.loads``, whose recursion 10 000 levels deep raises ``RecursionError``.
    """
    if raw.count("[") + raw.count("{") <= limit:
        return False
    depth, in_string, escaped_at = 0, False, -1
    for match in _JSON_SYNTAX_RE.finditer(raw):  # one pass, linear in the message
        ch, at = match.group(), match.start()
        if in_string:
            if at == escaped_at:
                continue
            if ch == "\\":
                escaped_at = at + 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        else:
            depth += 1 if ch in "[{" else -1
            if depth > limit:
                return True
    return False


def _parse(raw: str) -> Any:
    if json_depth_exceeds(raw):
        return m.ErrorOut(code="bad_json", message=f"Tin nhắn lồng nhau quá {MAX_JSON_DEPTH} cấp.")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON; an integer over Python's 4300 digits is a ValueError
        return m.ErrorOut(code="bad_json", message="Tin nhắn không phải JSON hợp lệ.")
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return m.ErrorOut(code="bad_message", message="Tin nhắn cần là một đối tượng JSON có trường type.")
    try:
        return m.client_message_adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first.get("type") == "union_tag_invalid":
            return m.ErrorOut(
                code="unknown_type", message=f"Loại tin nhắn không được hỗ trợ: {data['type']}."
            )
        loc = ".".join(str(p) for p in first.get("loc", ())[1:])
        return m.ErrorOut(
            code="bad_message", message=f"Trường {loc or data['type']} không hợp lệ: {first['msg']}"
        )
