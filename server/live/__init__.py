"""The live core: meetings in this process — rooms, their media and their recording, around the meeting
services. ``LiveMeetings`` (meetings.py) is what the HTTP routes and the signaling socket call; it knows
nothing of WebSockets (messages go out through each connection's ``send``) nor of HTTP."""

from server.live.connections import BATCH_WINDOW_S, Connection, LiveRoom, MediaPort
from server.live.meetings import LiveMeetings, RoomFactory
from server.live.recording import finish_files

__all__ = [
    "BATCH_WINDOW_S",
    "Connection",
    "LiveMeetings",
    "LiveRoom",
    "MediaPort",
    "RoomFactory",
    "finish_files",
]
