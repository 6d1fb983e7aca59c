"""The data model. Importing this package registers every table on ``Base.metadata``."""

from server.models.audit import AuditEvent
from server.models.base import Base, utcnow
from server.models.invitation_groups import InvitationGroup, InvitationGroupUnit
from server.models.meetings import (
    AgendaItem,
    ChatMessage,
    Meeting,
    MeetingFloor,
    MeetingRemoval,
    MeetingStatus,
    MeetingUnit,
    Participation,
    RollCallStatus,
)
from server.models.records import (
    Conclusion,
    DocumentRegister,
    JobStatus,
    MinutesStatus,
    MinutesVersion,
    Recording,
    RecordingStatus,
    RecordingTrack,
    SegmentEdit,
    Transcript,
    TranscriptSegment,
    VideoComposition,
)
from server.models.tasks import (
    ExtensionRequest,
    Notification,
    Task,
    TaskEvidence,
    TaskReport,
    TaskState,
    TaskUnit,
)
from server.models.units import Unit
from server.models.users import AuthSession, Role, SigningKey, User, WsTicket

__all__ = [
    "AgendaItem",
    "AuditEvent",
    "AuthSession",
    "Base",
    "ChatMessage",
    "Conclusion",
    "DocumentRegister",
    "ExtensionRequest",
    "InvitationGroup",
    "InvitationGroupUnit",
    "JobStatus",
    "Meeting",
    "MeetingFloor",
    "MeetingRemoval",
    "MeetingStatus",
    "MeetingUnit",
    "MinutesStatus",
    "MinutesVersion",
    "Notification",
    "Participation",
    "Recording",
    "RecordingStatus",
    "RecordingTrack",
    "Role",
    "RollCallStatus",
    "SegmentEdit",
    "SigningKey",
    "Task",
    "TaskEvidence",
    "TaskReport",
    "TaskState",
    "TaskUnit",
    "Transcript",
    "TranscriptSegment",
    "Unit",
    "User",
    "VideoComposition",
    "WsTicket",
    "utcnow",
]
