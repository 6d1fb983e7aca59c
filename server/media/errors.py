"""Errors raised by the media layer; all derive from MediaError."""

from __future__ import annotations


class MediaError(Exception):
    """Base of every error raised by server.media."""


class MalformedSdpError(MediaError):
    """The participant's SDP could not be parsed or applied; that participant's connection was closed."""


class UnknownParticipantError(MediaError):
    """No participant with this id is in the room."""


class OfferPendingError(MediaError):
    """An offer to this participant is still unanswered; renegotiation is signalled again after the answer."""


class RoomClosedError(MediaError):
    """The room was closed."""
