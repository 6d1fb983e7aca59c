"""``POST /api/media/check``: the pre-join check's echo peer (server/media/echo.py).

The browser posts the offer of a peer connection carrying one unreliable data channel (its ICE candidates
gathered, no trickle); the server answers, and echoes every message on that channel for a few seconds, so the
browser measures loss, round trip and bitrate over the real media path (UDP through ICE to the server).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from server.api.deps import ActorDep, SettingsDep
from server.errors import InvalidInput, Unavailable
from server.media.echo import EchoBusy, EchoPeers
from server.media.errors import MalformedSdpError
from server.media_settings import media_config

router = APIRouter(tags=["media"])

MAX_SDP_CHARS = 20_000


class SdpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sdp: str = Field(min_length=10, max_length=MAX_SDP_CHARS, description="Offer SDP, candidates gathered")


class SdpOut(BaseModel):
    sdp: str
    type: str = "answer"


@router.post("/api/media/check", response_model=SdpOut)
async def media_check(body: SdpIn, request: Request, actor: ActorDep, settings: SettingsDep) -> SdpOut:
    peers = getattr(request.app.state, "media_echo", None)
    if not isinstance(peers, EchoPeers):
        peers = request.app.state.media_echo = EchoPeers(media_config(settings))
    try:
        return SdpOut(sdp=await peers.answer(body.sdp))
    except EchoBusy:
        raise Unavailable("Nhiều điểm cầu đang kiểm tra đường truyền; thử lại sau ít giây.") from None
    except MalformedSdpError:
        raise InvalidInput("SDP không hợp lệ.") from None
