"""Turning the GIAOBAN_* settings into the media layer's configuration (server and bot alike)."""

from __future__ import annotations

from server.config import Settings
from server.media import IceServer, MediaConfig
from server.media.turn import TurnIssuer


def parse_ice_server(url: str) -> IceServer:
    """``turn:user:password@host:port?transport=udp`` or ``stun:host:port`` → IceServer."""
    scheme, _, rest = url.partition(":")
    username = credential = None
    if "@" in rest:
        creds, _, rest = rest.rpartition("@")
        username, _, credential = creds.partition(":")
    return IceServer(urls=(f"{scheme}:{rest}",), username=username or None, credential=credential or None)


def turn_issuer(settings: Settings) -> TurnIssuer | None:
    """GIAOBAN_TURN_URLS with GIAOBAN_TURN_SECRET → the issuer of time-limited credentials (None: no TURN)."""
    if not settings.turn_urls or not settings.turn_secret:
        return None
    return TurnIssuer(tuple(settings.turn_urls), settings.turn_secret, settings.turn_ttl_s)


def interface_addresses() -> tuple[str, ...]:
    """The machine's own non-loopback IPv4 addresses (used when GIAOBAN_ICE_ADDRESSES is empty)."""
    import ifaddr

    return tuple(
        str(ip.ip)
        for adapter in ifaddr.get_adapters()
        for ip in adapter.ips
        if isinstance(ip.ip, str) and not ip.ip.startswith("127.")
    )


def media_config(settings: Settings) -> MediaConfig:
    return MediaConfig(
        ice_addresses=tuple(settings.ice_addresses) or interface_addresses(),
        ice_servers=tuple(parse_ice_server(u) for u in settings.ice_servers),
        video_bitrate_cap_bps=settings.video_bitrate_cap_bps,
        last_n=settings.last_n,
        audio_speakers=settings.audio_speakers,
        bounded_from=settings.bounded_from,
        rtp_fast_path=settings.rtp_fast_path,
        rtp_native_send=settings.rtp_native_send,
        turn=turn_issuer(settings),
    )
