"""``/api/units`` and ``/api/meetings``: the unit tree, scheduling, reading, inviting, opening, closing."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from server.api.deps import ActorDep, SessionDep
from server.models import MeetingStatus, RollCallStatus
from server.services import meetings, search, task_agenda, units
from server.services.inputs import Text
from server.services.meetings import (
    AttendanceEntry,
    CancelInput,
    MeetingCreate,
    MeetingUpdate,
    MeetingView,
    RollCallEntry,
)

router = APIRouter(tags=["meetings"])


class InviteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    units: list[str] = Field(min_length=1, max_length=meetings.MAX_UNITS)


class RollCallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit: str
    status: RollCallStatus
    reason: Annotated[str, Text(500, required=False)] = ""


@router.get("/api/units")
def unit_tree(session: SessionDep, actor: ActorDep) -> dict[str, Any]:
    return {"units": [node.to_json() for node in units.tree(session)]}


@router.post("/api/meetings", response_model=MeetingView, status_code=201)
def create_meeting(body: MeetingCreate, session: SessionDep, actor: ActorDep) -> MeetingView:
    meetings.require_units(body.units)
    meeting = meetings.create(session, actor, body)
    # the open tasks of this chairing unit's earlier meetings come back on the agenda (kiểm điểm kỳ trước)
    task_agenda.open_tasks_agenda(session, meeting.id)
    return meetings.view(session, meeting)


@router.get("/api/meetings", response_model=list[MeetingView])
def list_meetings(
    session: SessionDep, actor: ActorDep, status: MeetingStatus | None = None
) -> list[MeetingView]:
    return [meetings.view(session, m) for m in meetings.list_visible(session, actor, status)]


@router.get("/api/meetings/{meeting_id}", response_model=MeetingView)
def get_meeting(meeting_id: int, session: SessionDep, actor: ActorDep) -> MeetingView:
    return meetings.view(session, meetings.get_visible(session, actor, meeting_id))


@router.patch("/api/meetings/{meeting_id}", response_model=MeetingView)
def update_meeting(meeting_id: int, body: MeetingUpdate, session: SessionDep, actor: ActorDep) -> MeetingView:
    meeting = meetings.update(session, actor, meeting_id, body)
    search.reindex_meeting(session, meeting_id)  # its title, date or invited units may have changed
    return meetings.view(session, meeting)


@router.post("/api/meetings/{meeting_id}/cancel", response_model=MeetingView)
def cancel_meeting(
    meeting_id: int, session: SessionDep, actor: ActorDep, body: CancelInput | None = None
) -> MeetingView:
    meeting = meetings.cancel(session, actor, meeting_id, body or CancelInput())
    search.reindex_meeting(session, meeting_id)
    return meetings.view(session, meeting)


@router.post("/api/meetings/{meeting_id}/units", response_model=MeetingView)
def invite_units(meeting_id: int, body: InviteIn, session: SessionDep, actor: ActorDep) -> MeetingView:
    meeting = meetings.invite(session, actor, meeting_id, body.units)
    search.reindex_meeting(session, meeting_id)  # who may find the meeting's records changed
    return meetings.view(session, meeting)


@router.post("/api/meetings/{meeting_id}/start", response_model=MeetingView)
async def start_meeting(meeting_id: int, request: Request, actor: ActorDep) -> MeetingView:
    live = request.app.state.live
    return await live.start_meeting(actor, meeting_id)


@router.post("/api/meetings/{meeting_id}/end", response_model=MeetingView)
async def end_meeting(meeting_id: int, request: Request, actor: ActorDep) -> MeetingView:
    live = request.app.state.live
    return await live.end_meeting(actor, meeting_id)


@router.post("/api/meetings/{meeting_id}/roll-call", response_model=RollCallEntry)
async def roll_call(meeting_id: int, body: RollCallIn, request: Request, actor: ActorDep) -> RollCallEntry:
    live = request.app.state.live
    return await live.set_roll_call(actor, meeting_id, body.unit, body.status, body.reason)


@router.get("/api/meetings/{meeting_id}/attendance", response_model=list[AttendanceEntry])
def get_attendance(meeting_id: int, session: SessionDep, actor: ActorDep) -> list[AttendanceEntry]:
    return meetings.attendance(session, actor, meeting_id)
