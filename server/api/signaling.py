"""The signaling WebSocket ``/ws/meetings/{id}`` (see ``docs/signaling.md``).

Authenticated by the session cookie, a ``token`` query parameter or a bearer header. Close codes: 4401 no
valid session, 4403 not invited / locked / removed (4410), 4404 unknown meeting, 4409 meeting not live, 4400 a
malformed, unknown or oversized message, 4429 a flood. One peer's bad input closes that peer only.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from server.api.deps import SESSION_COOKIE, token_from
from server.errors import Conflict, Forbidden, NotFound, Unauthenticated
from server.live import LiveMeetings
from server.media import MediaError
from server.rooms import messages as m
from server.services import accounts

log = logging.getLogger(__name__)
router = APIRouter()

FLOOD_BURST = 40  # messages allowed at once before the sustained rate applies


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
    token = token_from(
        ws.headers.get("authorization"), ws.cookies.get(SESSION_COOKIE), ws.query_params.get("token")
    )
    try:
        if not token:
            raise Unauthenticated("Bạn cần đăng nhập.")
        with app.state.db.session() as session:
            actor = accounts.resolve_token(session, token, ws.client.host if ws.client else "")
    except Unauthenticated as exc:
        await _refuse(ws, m.CLOSE_UNAUTHENTICATED, exc.code, exc.message)
        return

    async def send(msg: m.ServerMessage) -> None:
        await ws.send_text(msg.model_dump_json())

    async def close(code: int, reason: str) -> None:
        await ws.close(code=code, reason=reason)

    try:
        conn = await live.connect(actor, meeting_id, send, close)
    except NotFound as exc:
        await _refuse(ws, m.CLOSE_NOT_FOUND, exc.code, exc.message)
        return
    except Forbidden as exc:
        await _refuse(ws, m.CLOSE_FORBIDDEN, exc.code, exc.message)
        return
    except Conflict as exc:
        await _refuse(ws, m.CLOSE_NOT_LIVE, "not_live", exc.message)
        return

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
        await live.disconnect(conn, reason)


def _parse(raw: str) -> Any:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
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
