"""Meetings: scheduling, reading, inviting, opening and closing, roll-call and attendance."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from server.errors import Conflict, InvalidInput, NotFound
from server.models import (
    AgendaItem,
    Meeting,
    MeetingStatus,
    MeetingUnit,
    Participation,
    Role,
    RollCallStatus,
    Unit,
    User,
    utcnow,
)
from server.services import audit, notifications, policy, search, units
from server.services.context import Actor
from server.services.inputs import Text

log = logging.getLogger(__name__)

MAX_TITLE_CHARS = 300
MAX_AGENDA_TITLE_CHARS = 500
MAX_PLACE_CHARS = 300
MAX_UNITS = 200
#: video recording (contract): none, every camera and screen, or the chairing unit's hall, the floor
#: holder and screen shares
VideoMode = Literal["none", "all", "hall_and_floor"]
#: Vietnam's time zone (UTC+7): the times written in notifications.
LOCAL_TZ = dt.timezone(dt.timedelta(hours=7), "ICT")
NO_UNITS_MESSAGE = "Cần mời ít nhất một điểm cầu dự họp."


class AgendaInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Annotated[str, Text(MAX_AGENDA_TITLE_CHARS)]
    presenter_unit: str | None = None


def _agenda_item(value: Any) -> Any:
    return {"title": value} if isinstance(value, str) else value


class MeetingCreate(BaseModel):
    """``POST /api/meetings`` (contract)."""

    model_config = ConfigDict(extra="forbid")
    title: Annotated[str, Text(MAX_TITLE_CHARS)]
    chair_unit: str
    units: list[str] = Field(default_factory=list, max_length=MAX_UNITS)
    starts_at: dt.datetime
    record: bool = True
    record_video: VideoMode = "none"
    agenda: list[AgendaInput] = Field(default_factory=list, max_length=100)
    place: Annotated[str, Text(MAX_PLACE_CHARS, required=False)] = ""

    @field_validator("agenda", mode="before")
    @classmethod
    def _agenda_strings(cls, value: Any) -> Any:
        return [_agenda_item(v) for v in value] if isinstance(value, list) else value

    @field_validator("starts_at")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("starts_at cần có múi giờ (ví dụ 2026-12-01T08:00:00+07:00)")
        return value


class MeetingUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Annotated[str, Text(MAX_TITLE_CHARS)] | None = None
    starts_at: dt.datetime | None = None
    record: bool | None = None
    record_video: VideoMode | None = None
    place: Annotated[str, Text(MAX_PLACE_CHARS, required=False)] | None = None
    agenda: list[AgendaInput] | None = Field(None, max_length=100)
    #: the invited units, replacing the old list (units may be dropped only before the meeting starts)
    units: list[str] | None = Field(None, max_length=MAX_UNITS)

    @field_validator("agenda", mode="before")
    @classmethod
    def _agenda_strings(cls, value: Any) -> Any:
        return [_agenda_item(v) for v in value] if isinstance(value, list) else value


class CancelInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Text(500, required=False)] = ""


class RollCallEntry(BaseModel):
    unit: str
    unit_name: str
    status: RollCallStatus
    reason: str
    status_at: dt.datetime | None


class AgendaView(BaseModel):
    id: int
    title: str
    presenter_unit: str | None
    starts_at_s: float | None = None  # when the chair opened it in the meeting, on the meeting clock


class MeetingView(BaseModel):
    id: int
    title: str
    chair_unit: str
    chair_unit_name: str
    units: list[str]
    place: str
    starts_at: dt.datetime | None
    record: bool
    record_video: str
    status: MeetingStatus
    locked: bool
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    agenda: list[AgendaView]
    roll_call: list[RollCallEntry]


def _load(session: Session, meeting_id: int) -> Meeting:
    meeting = session.scalar(
        select(Meeting)
        .where(Meeting.id == meeting_id)
        .options(
            selectinload(Meeting.invitations).selectinload(MeetingUnit.unit),
            selectinload(Meeting.agenda),
            selectinload(Meeting.chair_unit),
        )
    )
    if meeting is None:
        raise NotFound(f"Không tìm thấy cuộc họp {meeting_id}.", details={"meeting": meeting_id})
    return meeting


def _check_video(record: bool, record_video: str) -> None:
    if record_video != "none" and not record:
        raise InvalidInput("Muốn ghi hình thì cuộc họp cần được ghi âm.", details={"field": "record_video"})


def _invited_ids(meeting: Meeting) -> set[int]:
    return {inv.unit_id for inv in meeting.invitations}


def get_visible(session: Session, actor: Actor, meeting_id: int) -> Meeting:
    meeting = _load(session, meeting_id)
    policy.require(
        policy.can_see(actor, meeting.chair_unit_id, _invited_ids(meeting)),
        "Đơn vị của bạn không được mời dự cuộc họp này.",
    )
    return meeting


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.astimezone(dt.UTC) if value is not None else None


def view(session: Session, meeting: Meeting) -> MeetingView:
    unit_codes = {u.id: u.code for u in session.scalars(select(Unit))}
    return MeetingView(
        id=meeting.id,
        title=meeting.title,
        chair_unit=meeting.chair_unit.code,
        chair_unit_name=meeting.chair_unit.name,
        units=[inv.unit.code for inv in meeting.invitations],
        place=meeting.place,
        starts_at=_utc(meeting.starts_at),
        record=meeting.record,
        record_video=meeting.record_video,
        status=meeting.status,
        locked=meeting.locked,
        started_at=_utc(meeting.started_at),
        ended_at=_utc(meeting.ended_at),
        agenda=[
            AgendaView(
                id=a.id,
                title=a.title,
                presenter_unit=unit_codes.get(a.presenter_unit_id) if a.presenter_unit_id else None,
                starts_at_s=a.starts_at_s,
            )
            for a in meeting.agenda
        ],
        roll_call=[roll_call_entry(inv) for inv in meeting.invitations],
    )


def roll_call_entry(inv: MeetingUnit) -> RollCallEntry:
    """One invited unit's roll-call entry (its unit loaded)."""
    return RollCallEntry(
        unit=inv.unit.code,
        unit_name=inv.unit.name,
        status=inv.status,
        reason=inv.reason,
        status_at=inv.status_at,
    )


AGENDA_LIVE_MESSAGE = "Không sửa chương trình họp khi cuộc họp đang diễn ra."


def _agenda_changed(session: Session, meeting: Meeting, agenda: list[AgendaInput]) -> bool:
    codes = dict(session.execute(select(Unit.id, Unit.code)).tuples().all())
    now = [(a.title, codes.get(a.presenter_unit_id) if a.presenter_unit_id else None) for a in meeting.agenda]
    return now != [(item.title, item.presenter_unit or None) for item in agenda]


def _set_agenda(session: Session, meeting: Meeting, agenda: list[AgendaInput]) -> None:
    """Replace the agenda; an item whose title stays keeps its start on the meeting clock (set while the
    meeting ran: the video's chapters and the minutes' grouping)."""
    started = {a.title: a.starts_at_s for a in meeting.agenda if a.starts_at_s is not None}
    meeting.agenda.clear()
    session.flush()
    for i, item in enumerate(agenda):
        presenter = units.get_by_code(session, item.presenter_unit).id if item.presenter_unit else None
        meeting.agenda.append(
            AgendaItem(
                position=i,
                title=item.title,
                presenter_unit_id=presenter,
                starts_at_s=started.get(item.title),
            )
        )


def _invite(session: Session, meeting: Meeting, codes: list[str]) -> list[str]:
    # One query for every invited unit (a province invites its 135 communes): a lookup per code also
    # autoflushed each new invitation on its own, 274 statements for 135 units instead of 2.
    existing = {inv.unit_id for inv in meeting.invitations}
    added: list[str] = []
    for unit in units.each_by_code(session, codes):
        if unit.id == meeting.chair_unit_id:
            raise InvalidInput(
                "Đơn vị chủ trì không cần được mời như một điểm cầu.", details={"unit": unit.code}
            )
        if unit.id in existing:
            continue
        meeting.invitations.append(MeetingUnit(unit_id=unit.id, position=len(meeting.invitations)))
        existing.add(unit.id)
        added.append(unit.code)
    return added


def local_when(value: dt.datetime | None) -> str:
    """The time as people write it, "08:00 ngày 01/12/2026" (Vietnam, 24-hour clock)."""
    if value is None:
        return "chưa định giờ"
    local = (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(LOCAL_TZ)
    return local.strftime("%H:%M ngày %d/%m/%Y")


def _notify_units(
    session: Session, meeting: Meeting, unit_ids: set[int], kind: str, text: str, event: str
) -> None:
    """One notification per unit for one event of the meeting (``event`` makes the key unique)."""
    for unit_id in sorted(unit_ids):
        notifications.notify(
            session,
            dedupe_key=f"meeting:{meeting.id}:{event}:unit:{unit_id}",
            kind=kind,
            text=text,
            data={"meeting_id": meeting.id},
            unit_id=unit_id,
        )


def _event_mark() -> str:
    return utcnow().strftime("%Y%m%dT%H%M%S%f")


def require_units(codes: list[str]) -> None:
    """A meeting is scheduled with at least one invited unit (the API's rule, issue 18; meetings made
    before it, or by the services directly, may have none)."""
    if not codes:
        raise InvalidInput(NO_UNITS_MESSAGE, details={"field": "units"})


def create(session: Session, actor: Actor, data: MeetingCreate) -> Meeting:
    chair_unit = units.get_by_code(session, data.chair_unit)
    policy.require(
        actor.is_admin or (actor.role in policy.MANAGER_ROLES and actor.unit_id == chair_unit.id),
        "Chỉ chủ trì hoặc thư ký của đơn vị chủ trì được lên lịch cuộc họp.",
    )
    _check_video(data.record, data.record_video)
    meeting = Meeting(
        title=data.title.strip(),
        chair_unit_id=chair_unit.id,
        place=data.place,
        starts_at=data.starts_at,
        record=data.record,
        record_video=data.record_video,
        created_by_id=actor.id,
        chair_user_id=actor.id if actor.role is Role.CHAIR else None,
        clerk_user_id=actor.id if actor.role is Role.CLERK else None,
    )
    session.add(meeting)
    session.flush()
    _invite(session, meeting, data.units)
    _set_agenda(session, meeting, data.agenda)
    session.flush()
    audit.record(
        session, actor, "meeting.create", "meeting", meeting.id, {"title": meeting.title, "units": data.units}
    )
    search.index_meeting(session, meeting.id)
    return _load(session, meeting.id)


def list_visible(
    session: Session, actor: Actor, status: MeetingStatus | None = None, limit: int = 200
) -> list[Meeting]:
    stmt = (
        select(Meeting)
        .options(
            selectinload(Meeting.invitations).selectinload(MeetingUnit.unit),
            selectinload(Meeting.agenda),
            selectinload(Meeting.chair_unit),
        )
        .order_by(Meeting.starts_at.desc())
        .limit(limit)
    )
    if not actor.is_admin:
        invited = select(MeetingUnit.meeting_id).where(MeetingUnit.unit_id == actor.unit_id)
        stmt = stmt.where(or_(Meeting.chair_unit_id == actor.unit_id, Meeting.id.in_(invited)))
    if status is not None:
        stmt = stmt.where(Meeting.status == status)
    return list(session.scalars(stmt))


def _managed(session: Session, actor: Actor, meeting_id: int) -> Meeting:
    meeting = get_visible(session, actor, meeting_id)
    policy.require(
        policy.can_manage(actor, meeting.chair_unit_id),
        "Chỉ chủ trì hoặc thư ký của đơn vị chủ trì được thay đổi cuộc họp.",
    )
    return meeting


def update(session: Session, actor: Actor, meeting_id: int, data: MeetingUpdate) -> Meeting:
    meeting = _managed(session, actor, meeting_id)
    if meeting.status in (MeetingStatus.ENDED, MeetingStatus.CANCELLED):
        raise Conflict("Cuộc họp đã kết thúc, không sửa được nữa.")
    changes = data.model_dump(exclude_unset=True)
    if data.title is not None:
        meeting.title = data.title.strip()
    if data.starts_at is not None:
        if data.starts_at.tzinfo is None:
            raise InvalidInput("starts_at cần có múi giờ.", details={"field": "starts_at"})
        meeting.starts_at = data.starts_at
    if data.record is not None:
        if meeting.status is MeetingStatus.LIVE:
            raise Conflict("Không đổi chế độ ghi âm khi cuộc họp đang diễn ra.")
        meeting.record = data.record
    if data.record_video is not None:
        if meeting.status is MeetingStatus.LIVE and data.record_video != meeting.record_video:
            raise Conflict("Không đổi chế độ ghi hình khi cuộc họp đang diễn ra.")
        meeting.record_video = data.record_video
    _check_video(meeting.record, meeting.record_video)
    if data.place is not None:
        meeting.place = data.place
    if data.agenda is not None:
        if meeting.status is MeetingStatus.LIVE and _agenda_changed(session, meeting, data.agenda):
            raise Conflict(AGENDA_LIVE_MESSAGE)  # the room moves through the items it was started with
        _set_agenda(session, meeting, data.agenda)
    before = _invited_ids(meeting)
    if data.units is not None:
        _replace_units(session, meeting, data.units)
    audit.record(
        session, actor, "meeting.update", "meeting", meeting.id, {k: str(v) for k, v in changes.items()}
    )
    session.flush()
    after = _invited_ids(meeting)
    mark = _event_mark()
    when = local_when(meeting.starts_at)
    _notify_units(
        session, meeting, after & before, "meeting_updated",
        f"Cuộc họp «{meeting.title}» đã được điều chỉnh: {when}"
        + (f", tại {meeting.place}" if meeting.place else "") + ".",
        f"update:{mark}",
    )  # fmt: skip
    _notify_units(
        session, meeting, after - before, "meeting_invited",
        f"Đơn vị được mời dự cuộc họp «{meeting.title}» lúc {when}.", f"invite:{mark}",
    )  # fmt: skip
    _notify_units(
        session, meeting, before - after, "meeting_uninvited",
        f"Đơn vị không còn được mời dự cuộc họp «{meeting.title}» lúc {when}.", f"uninvite:{mark}",
    )  # fmt: skip
    return _load(session, meeting.id)


def _replace_units(session: Session, meeting: Meeting, codes: list[str]) -> None:
    """The invited units become ``codes``: at least one; units are dropped only before the meeting starts."""
    require_units(codes)
    wanted = {u.id for u in units.each_by_code(session, codes)}
    dropped = [inv for inv in meeting.invitations if inv.unit_id not in wanted]
    if dropped and meeting.status is not MeetingStatus.SCHEDULED:
        raise Conflict(
            "Cuộc họp đã khai mạc: chỉ được mời thêm điểm cầu, không bỏ bớt.",
            details={"units": [inv.unit.code for inv in dropped]},
        )
    for inv in dropped:
        meeting.invitations.remove(inv)
    session.flush()
    _invite(session, meeting, codes)
    for i, inv in enumerate(meeting.invitations):
        inv.position = i


def cancel(session: Session, actor: Actor, meeting_id: int, data: CancelInput) -> Meeting:
    """Cancel a meeting that has not started; every invited unit is told (with the reason when given)."""
    meeting = _managed(session, actor, meeting_id)
    if meeting.status is not MeetingStatus.SCHEDULED:
        raise Conflict("Chỉ hủy được cuộc họp chưa khai mạc.", details={"status": meeting.status.value})
    meeting.status = MeetingStatus.CANCELLED
    reason = data.reason.strip()
    audit.record(session, actor, "meeting.cancel", "meeting", meeting.id, {"reason": reason})
    session.flush()
    _notify_units(
        session, meeting, _invited_ids(meeting), "meeting_cancelled",
        f"Cuộc họp «{meeting.title}» lúc {local_when(meeting.starts_at)} đã bị hủy"
        + (f". Lý do: {reason}" if reason else "") + ".",
        "cancel",
    )  # fmt: skip
    return _load(session, meeting.id)


def invite(session: Session, actor: Actor, meeting_id: int, codes: list[str]) -> Meeting:
    meeting = _managed(session, actor, meeting_id)
    if meeting.status in (MeetingStatus.ENDED, MeetingStatus.CANCELLED):
        raise Conflict("Cuộc họp đã kết thúc.")
    added = _invite(session, meeting, codes)
    audit.record(session, actor, "meeting.invite", "meeting", meeting.id, {"units": added})
    session.flush()
    return _load(session, meeting.id)


def start(session: Session, actor: Actor, meeting_id: int) -> Meeting:
    meeting = get_visible(session, actor, meeting_id)
    policy.require(policy.can_start_end(actor, meeting.chair_unit_id), "Chỉ chủ trì được khai mạc cuộc họp.")
    if meeting.status is MeetingStatus.LIVE:
        raise Conflict("Cuộc họp đang diễn ra.")
    if meeting.status not in (MeetingStatus.SCHEDULED, MeetingStatus.INTERRUPTED):
        raise Conflict(f"Không thể khai mạc cuộc họp ở trạng thái {meeting.status.value}.")
    resumed = meeting.status is MeetingStatus.INTERRUPTED
    meeting.status = MeetingStatus.LIVE
    meeting.started_at = meeting.started_at or utcnow()
    if actor.role is Role.CHAIR and meeting.chair_user_id is None:
        meeting.chair_user_id = actor.id
    audit.record(session, actor, "meeting.resume" if resumed else "meeting.start", "meeting", meeting.id)
    return meeting


def end(session: Session, actor: Actor | None, meeting_id: int) -> Meeting:
    meeting = _load(session, meeting_id)
    if actor is not None:
        policy.require(
            policy.can_see(actor, meeting.chair_unit_id, _invited_ids(meeting)),
            "Đơn vị của bạn không được mời dự cuộc họp này.",
        )
        policy.require(
            policy.can_start_end(actor, meeting.chair_unit_id), "Chỉ chủ trì được bế mạc cuộc họp."
        )
    if meeting.status not in (MeetingStatus.LIVE, MeetingStatus.INTERRUPTED):
        raise Conflict("Cuộc họp không ở trạng thái đang diễn ra.")
    now = utcnow()
    meeting.status = MeetingStatus.ENDED
    meeting.ended_at = now
    for part in session.scalars(
        select(Participation).where(Participation.meeting_id == meeting.id, Participation.left_at.is_(None))
    ):
        part.left_at = now
        part.leave_reason = "meeting_ended"
    audit.record(session, actor, "meeting.end", "meeting", meeting.id)
    return meeting


def mark_interrupted_on_startup(session: Session) -> list[int]:
    """Meetings left live by a dead server are marked interrupted (their open attendance is closed)."""
    ids: list[int] = []
    for meeting in session.scalars(select(Meeting).where(Meeting.status == MeetingStatus.LIVE)):
        meeting.status = MeetingStatus.INTERRUPTED
        ids.append(meeting.id)
        for part in session.scalars(
            select(Participation).where(
                Participation.meeting_id == meeting.id, Participation.left_at.is_(None)
            )
        ):
            part.left_at = utcnow()
            part.leave_reason = "server_restart"
        audit.record(session, None, "meeting.interrupted", "meeting", meeting.id)
    return ids


def set_roll_call(
    session: Session,
    actor: Actor | None,
    meeting_id: int,
    unit_code: str,
    status: RollCallStatus,
    reason: str = "",
) -> MeetingUnit:
    meeting = _load(session, meeting_id)
    if actor is not None:
        policy.require(
            policy.can_manage(actor, meeting.chair_unit_id), "Chỉ chủ trì hoặc thư ký được điểm danh."
        )
    inv = next((i for i in meeting.invitations if i.unit.code == unit_code), None)
    if inv is None:
        raise NotFound(f"Đơn vị {unit_code} không được mời dự cuộc họp này.", details={"unit": unit_code})
    if status is RollCallStatus.ABSENT and not reason.strip():
        raise InvalidInput("Vắng mặt cần ghi rõ lý do.", details={"field": "reason"})
    inv.status, inv.reason, inv.status_at = status, reason.strip(), utcnow()
    inv.status_by_id = actor.id if actor else None
    audit.record(
        session,
        actor,
        "meeting.roll_call",
        "meeting",
        meeting.id,
        {"unit": unit_code, "status": status.value, "reason": reason},
    )
    return inv


def record_join(session: Session, actor: Actor, meeting_id: int) -> Participation:
    meeting = get_visible(session, actor, meeting_id)
    part = Participation(meeting_id=meeting.id, user_id=actor.id, unit_id=actor.unit_id)
    session.add(part)
    inv = next((i for i in meeting.invitations if i.unit_id == actor.unit_id), None)
    if inv is not None and inv.status in (RollCallStatus.NOT_CALLED, RollCallStatus.ABSENT):
        inv.status, inv.reason, inv.status_at = RollCallStatus.PRESENT_ONLINE, "", utcnow()
    session.flush()
    return part


def record_leave(session: Session, participation_id: int, reason: str) -> None:
    part = session.get(Participation, participation_id)
    if part is not None and part.left_at is None:
        part.left_at = utcnow()
        part.leave_reason = reason


class AttendanceEntry(BaseModel):
    username: str
    unit: str
    joined_at: dt.datetime
    left_at: dt.datetime | None
    leave_reason: str


def attendance(session: Session, actor: Actor, meeting_id: int) -> list[AttendanceEntry]:
    get_visible(session, actor, meeting_id)
    rows = session.execute(
        select(Participation, User.username, Unit.code)
        .join(User, User.id == Participation.user_id)
        .join(Unit, Unit.id == Participation.unit_id)
        .where(Participation.meeting_id == meeting_id)
        .order_by(Participation.joined_at)
    ).all()
    return [
        AttendanceEntry(
            username=username,
            unit=code,
            joined_at=p.joined_at,
            left_at=p.left_at,
            leave_reason=p.leave_reason,
        )
        for p, username, code in rows
    ]
