"""The live core (server/live/) without aiortc: LiveMeetings with a fake media room over a real database.

- every client message type has a handler (dispatch.HANDLERS is exhaustive);
- join, roll-call (as deltas to a socket that said ``hello``, as full snapshots to one that did not), floor
  and end, in order, without sockets;
- the floor (holder, its open microphone, raised hands, floor control) and the chat go on in the node that
  adopts a meeting whose node is gone;
- a recorded meeting ended while another request holds the SQLite write lock: the core's database work waits
  off the event loop, so the request commits, the meeting ends and the recording is marked finished (it used
  to block the loop for the 10 s busy timeout and fail with "database is locked").
"""

from __future__ import annotations

import asyncio
import logging
import time
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.config import Settings
from server.db import Database, migrate
from server.errors import Forbidden
from server.live import LiveMeetings, dispatch, recording
from server.media import MediaListener, Offer, StreamLabel
from server.models import ChatMessage, MeetingFloor, MeetingRemoval, Recording, RecordingStatus, Unit
from server.rooms import messages as m
from server.services import accounts, meetings, units
from server.services.context import Actor
from tests.conftest import TEST_PASSWORD

HOLD_S = 0.6  # how long the other request keeps its write transaction open


def test_every_client_message_type_has_a_handler() -> None:
    union = typing.get_args(typing.get_args(m.ClientMessage)[0])
    assert union, "ClientMessage is no longer an annotated union"
    missing = [cls.__name__ for cls in union if cls not in dispatch.HANDLERS]
    assert not missing, f"client messages without a handler in server/live/dispatch.py: {missing}"
    assert set(dispatch.HANDLERS) == set(union)


class FakeRoom:
    """A media room that records what the core asked of it."""

    def __init__(self, key: str, listener: MediaListener) -> None:
        self.key, self.listener = key, listener
        self.joined: list[str] = []
        self.pinned: list[str] = []
        self.walls: dict[str, list[str]] = {}
        self.forwarding: dict[str, bool] = {}
        self.closed = False

    async def join(
        self,
        participant_id: str,
        *,
        publishes_video: bool = True,
        audio_only: bool = False,
        username: str | None = None,
        unit: str | None = None,
        publishes_thumbnail: bool = False,
    ) -> Offer:
        self.joined.append(participant_id)
        return Offer(
            participant_id,
            "v=0 fake",
            (StreamLabel("0", participant_id, username or "", unit or "", "audio", "microphone"),),
        )

    async def answer(self, participant_id: str, sdp: str) -> None:
        pass

    async def add_ice_candidate(
        self, participant_id: str, candidate: str, sdp_mid: str | None, sdp_mline_index: int | None
    ) -> None:
        pass

    async def renegotiate(self, participant_id: str) -> Offer:
        return Offer(participant_id, "v=0 fake", ())

    async def start_screen_share(self, participant_id: str) -> Offer:
        return Offer(participant_id, "v=0 fake", ())

    async def stop_screen_share(self, participant_id: str) -> Offer:
        return Offer(participant_id, "v=0 fake", ())

    def withdraw_screen_share(self, participant_id: str) -> None:
        pass

    def set_audio_forwarding(self, participant_id: str, enabled: bool) -> None:
        self.forwarding[participant_id] = enabled

    def set_audio_only(self, participant_id: str, on: bool) -> None:
        pass

    def set_pinned(self, participant_ids: Sequence[str]) -> None:
        self.pinned = list(participant_ids)

    def set_wall(self, viewer_id: str, publisher_ids: Sequence[str]) -> None:
        self.walls[viewer_id] = list(publisher_ids)

    async def leave(self, participant_id: str) -> None:
        if participant_id in self.joined:
            self.joined.remove(participant_id)

    async def close(self) -> None:
        self.closed = True

    def participant_ids(self) -> list[str]:
        return list(self.joined)


class Socket:
    """What a signaling socket would have sent and how it was closed."""

    def __init__(self) -> None:
        self.got: list[m.ServerMessage] = []
        self.closed_with: int | None = None

    async def send(self, msg: m.ServerMessage) -> None:
        self.got.append(msg)

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = code

    def types(self) -> list[str]:
        return [msg.type for msg in self.got]


def _world(tmp_path: Path, record: bool) -> tuple[Settings, Database, int, dict[str, Actor]]:
    settings = Settings(data_dir=tmp_path / "data", ice_addresses=["127.0.0.1"], secret_key="test-secret")
    migrate(settings)  # SQLite: the lock this file is about
    db = Database(settings)
    actors = {}
    with db.session() as session:
        units.seed_ia_pa(session)
        for name, role, unit in (
            ("chutri", "chair", "IAPA"),
            ("chumo", "member", "CHUMO"),
            ("poto", "member", "POTO"),
        ):
            actors[name] = accounts.actor_of(
                accounts.create_user(
                    session, username=name, password=TEST_PASSWORD, role=role, unit_code=unit
                )
            )
            session.flush()
        meeting = meetings.create(
            session,
            actors["chutri"],
            meetings.MeetingCreate(
                title="Giao ban tuần",
                chair_unit="IAPA",
                units=["CHUMO", "POTO", "IATUL"],
                starts_at="2026-12-01T08:00:00+07:00",  # type: ignore[arg-type]
                record=record,
            ),
        )
        session.flush()
        mid = meeting.id
    return settings, db, mid, actors


def test_join_roll_call_floor_and_end_with_a_fake_media_room(tmp_path: Path) -> None:
    settings, db, mid, a = _world(tmp_path, record=False)
    rooms: list[FakeRoom] = []

    def factory(key: str, listener: MediaListener) -> FakeRoom:
        rooms.append(FakeRoom(key, listener))
        return rooms[-1]

    async def scenario() -> tuple[Socket, Socket, Socket]:
        live = LiveMeetings(settings, db, room_factory=factory, batch_window_s=0.01)
        await live.start_meeting(a["chutri"], mid)
        chair_s, chumo_s, poto_s = Socket(), Socket(), Socket()
        chair = await live.connect(a["chutri"], mid, chair_s.send, chair_s.close)
        await live.handle(chair, m.Hello(type="hello", features=["roll_call_delta", "something_else"]))
        chumo = await live.connect(a["chumo"], mid, chumo_s.send, chumo_s.close)  # today's client: no hello
        poto = await live.connect(a["poto"], mid, poto_s.send, poto_s.close)
        await live.handle(poto, m.Hello(type="hello", features=["roll_call_delta"]))
        await asyncio.sleep(0.05)  # one batching window
        await live.handle(chumo, m.Join(type="join"))
        await live.handle(
            chair, m.RollCall(type="roll_call", unit="IATUL", status="absent", reason="Mất điện")
        )
        await live.handle(chumo, m.RollCall(type="roll_call", unit="IATUL", status="present_online"))
        await live.handle(chair, m.GiveFloor(type="give_floor", participant_id=chumo.participant_id))
        assert rooms[0].forwarding[chumo.participant_id] is False  # the floor opens it; chumo unmutes itself
        await live.handle(chumo, m.SetMute(type="mute", audio=False))
        await asyncio.sleep(0.05)
        assert rooms[0].forwarding[chumo.participant_id] is True
        assert rooms[0].pinned == [chair.participant_id, chumo.participant_id]
        await live.handle(poto, m.GetRollCall(type="get_roll_call"))
        await live.handle(chair, m.EndMeeting(type="end_meeting"))
        await live.close()
        return chair_s, chumo_s, poto_s

    chair_s, chumo_s, poto_s = asyncio.run(scenario())
    db.dispose()
    assert rooms[0].closed
    for s in (chair_s, chumo_s, poto_s):
        assert isinstance(s.got[0], m.Welcome) and len(s.got[0].roll_call) == 3
        assert s.types()[-1] == "meeting_ended" and s.closed_with == m.CLOSE_ENDED
    # the chair (delta) heard of two joins as two entries and two participants, never a full roll-call
    chair_entries = [
        (x.entry.unit, x.entry.status) for x in chair_s.got if isinstance(x, m.RollCallEntryUpdate)
    ]
    assert chair_entries == [("CHUMO", "present_online"), ("POTO", "present_online"), ("IATUL", "absent")]
    assert "roll_call" not in chair_s.types()
    joined = [x.participant.username for x in chair_s.got if isinstance(x, m.ParticipantJoined)]
    assert joined == ["chumo", "poto"]
    # chumo (no hello) gets full snapshots, the first one with poto present; a member's roll-call is refused
    snapshots = [x for x in chumo_s.got if isinstance(x, m.RollCallUpdate)]
    assert snapshots and all(len(x.entries) == 3 for x in snapshots)
    assert {e.unit: e.status for e in snapshots[-1].entries} == {
        "CHUMO": "present_online",
        "POTO": "present_online",
        "IATUL": "absent",
    }
    assert "roll_call_entry" not in chumo_s.types()
    assert any(isinstance(x, m.ErrorOut) and x.code == "forbidden" for x in chumo_s.got)
    assert any(isinstance(x, m.Offer) and x.streams[0].unit == "CHUMO" for x in chumo_s.got)
    # the floor: chumo's update comes before the floor message, its unmute after
    poto_types = poto_s.types()
    assert poto_types.index("floor") > poto_types.index("participant_updated")
    updates = [x.participant for x in poto_s.got if isinstance(x, m.ParticipantUpdated)]
    assert updates[-1].username == "chumo" and not updates[-1].server_muted and not updates[-1].audio_muted
    # poto asked for the full list: it is the last roll_call it got, with the call
    assert [x for x in poto_s.got if isinstance(x, m.RollCallUpdate)][-1].entries[2].status == "absent"


class Writer:
    """A request's write transaction on another thread whose commit is scheduled from the event loop, as
    FastAPI runs a sync session dependency's exit."""

    def __init__(self, db: Database) -> None:
        self.session: Session = db.sessionmaker()

    def begin(self) -> None:
        self.session.begin()
        self.session.execute(update(Unit).where(Unit.code == "IAPA").values(name=Unit.name))  # the write lock

    def commit(self) -> None:
        self.session.commit()
        self.session.close()


def test_a_recorded_meeting_ends_while_another_request_writes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, db, mid, a = _world(tmp_path, record=True)
    real_finish_files = recording.finish_files
    loop_box: list[asyncio.AbstractEventLoop] = []
    commits: list[asyncio.Future[None]] = []

    async def commit_later(w: Writer) -> None:
        await asyncio.sleep(HOLD_S)
        await asyncio.to_thread(w.commit)

    def finish_files_while_a_request_writes(folder: Path) -> Any:
        # another request starts writing while the recording is mixed: the "finished" write meets its lock
        w = Writer(db)
        w.begin()
        loop = loop_box[0]
        loop.call_soon_threadsafe(lambda: commits.append(asyncio.ensure_future(commit_later(w))))
        return real_finish_files(folder)

    monkeypatch.setattr(recording, "finish_files", finish_files_while_a_request_writes)
    finished: list[int] = []

    async def scenario() -> float:
        loop_box.append(asyncio.get_running_loop())
        live = LiveMeetings(settings, db, room_factory=FakeRoom)
        live.on_recording_finished.append(finished.append)
        await live.start_meeting(a["chutri"], mid)
        s = Socket()
        await live.connect(a["chumo"], mid, s.send, s.close)
        # a request holds the write lock while the chair ends the meeting
        w = Writer(db)
        await asyncio.to_thread(w.begin)
        t0 = time.perf_counter()
        ending = asyncio.ensure_future(live.end_meeting(a["chutri"], mid))
        await commit_later(w)
        view = await ending
        await live.wait_idle()
        took = time.perf_counter() - t0
        await asyncio.gather(*commits)
        await live.close()
        assert view.status.value == "ended" and s.closed_with == m.CLOSE_ENDED
        return took

    with caplog.at_level(logging.INFO):
        took = asyncio.run(scenario())
    with db.session() as session:
        rec = session.scalar(select(Recording).where(Recording.meeting_id == mid))
        assert rec is not None and rec.status is RecordingStatus.FINISHED, rec and rec.status
        assert rec.mix_file
    db.dispose()
    assert finished == [mid]  # the transcription hook ran once the state was stored
    assert not [r for r in caplog.records if "locked" in r.getMessage()]
    # both waits ended when the request committed, not at SQLite's 10 s busy timeout
    assert took < 5.0, took


class HereSite:
    """A site of which this process is the healthy node holding every meeting (``SitePort``)."""

    id = url = "http://127.0.0.1:1"

    async def check(self) -> None:
        pass

    async def locate(self, meeting_id: int) -> HereSite:
        return self

    def is_self(self, node: object) -> bool:
        return True

    async def held_elsewhere(self, meeting_id: int) -> bool:
        return False

    async def moved_elsewhere(self, meeting_ids: list[int]) -> dict[int, str]:
        return {}

    async def release(self, meeting_id: int) -> None:
        pass


def test_a_removed_point_stays_out_on_the_node_that_resumes_the_meeting(tmp_path: Path) -> None:
    """Removed on one node, the point is refused by the node that adopts the meeting after it (the removal
    is in the database), until the chair readmits it there."""
    settings, db, mid, a = _world(tmp_path, record=False)

    async def scenario() -> None:
        first = LiveMeetings(settings, db, room_factory=FakeRoom, batch_window_s=0.01)
        await first.start_meeting(a["chutri"], mid)
        chair_s, poto_s = Socket(), Socket()
        chair = await first.connect(a["chutri"], mid, chair_s.send, chair_s.close)
        poto = await first.connect(a["poto"], mid, poto_s.send, poto_s.close)
        await first.handle(
            chair, m.RemoveParticipant(type="remove_participant", participant_id=poto.participant_id)
        )
        assert poto_s.closed_with == m.CLOSE_REMOVED
        await first.handle(
            chair, m.RemoveParticipant(type="remove_participant", participant_id=chair.participant_id)
        )
        assert [x.code for x in chair_s.got if isinstance(x, m.ErrorOut)] == ["forbidden"]  # not oneself
        rooms = list(first.rooms)
        first.rooms.clear()  # the node is gone without ending the meeting (its sockets died with it)
        assert rooms == [mid]

        second = LiveMeetings(settings, db, room_factory=FakeRoom, batch_window_s=0.01)
        second.site = HereSite()
        with pytest.raises(Forbidden) as refused:
            await second.connect(a["poto"], mid, Socket().send, Socket().close)
        assert refused.value.code == "removed"
        assert str(refused.value).startswith("Chủ trì đã mời điểm cầu ra khỏi cuộc họp")
        chair2_s = Socket()
        chair2 = await second.connect(a["chutri"], mid, chair2_s.send, chair2_s.close)
        welcome = chair2_s.got[0]
        assert isinstance(welcome, m.Welcome)
        assert [(r.participant_id, r.unit) for r in welcome.removed] == [(poto.participant_id, "POTO")]
        await second.handle(
            chair2, m.ReadmitParticipant(type="readmit_participant", participant_id=poto.participant_id)
        )
        assert [x.participants for x in chair2_s.got if isinstance(x, m.RemovedList)] == [[]]
        back_s = Socket()
        back = await second.connect(a["poto"], mid, back_s.send, back_s.close)
        assert back.participant_id == poto.participant_id and isinstance(back_s.got[0], m.Welcome)
        assert back_s.got[0].removed == []  # only the chair and clerk are told who is out
        await second.end_meeting(a["chutri"], mid)
        await second.close()
        await first.close()

    asyncio.run(scenario())
    with db.session() as session:
        assert session.scalars(select(MeetingRemoval)).all() == []  # readmitted: no row left
    db.dispose()


def test_the_floor_and_the_chat_go_on_in_the_node_that_adopts_the_meeting(tmp_path: Path) -> None:
    """Given the floor, speaking, a hand raised and chat lines on one node; that node gone, the node adopting
    the meeting gives the same floor holder its open microphone back, raises the hand again when its owner
    comes back and sends the chat in every welcome."""
    settings, db, mid, a = _world(tmp_path, record=False)
    rooms: list[FakeRoom] = []

    def factory(key: str, listener: MediaListener) -> FakeRoom:
        rooms.append(FakeRoom(key, listener))
        return rooms[-1]

    async def scenario() -> None:
        first = LiveMeetings(settings, db, room_factory=factory, batch_window_s=0.01)
        await first.start_meeting(a["chutri"], mid)
        socks = {name: Socket() for name in ("chutri", "chumo", "poto")}
        c = {n: await first.connect(a[n], mid, s.send, s.close) for n, s in socks.items()}
        await first.handle(c["chumo"], m.Join(type="join"))
        await first.handle(
            c["chutri"], m.GiveFloor(type="give_floor", participant_id=c["chumo"].participant_id)
        )
        await first.handle(c["chumo"], m.SetMute(type="mute", audio=False))
        await first.handle(c["poto"], m.RaiseHand(type="raise_hand", raised=True))
        await first.handle(c["chutri"], m.SendChat(type="chat", text="Mời xã Chư Mố báo cáo."))
        await first.handle(c["chumo"], m.SendChat(type="chat", text="  Chư Mố xin báo cáo tình hình lúa.  "))
        sent = [x.message for x in socks["poto"].got if isinstance(x, m.ChatOut)]
        first.rooms.clear()  # the node is gone without ending the meeting (its sockets died with it)

        second = LiveMeetings(settings, db, room_factory=factory, batch_window_s=0.01)
        second.site = HereSite()
        chair_s = Socket()
        chair = await second.connect(a["chutri"], mid, chair_s.send, chair_s.close)
        welcome = chair_s.got[0]
        assert isinstance(welcome, m.Welcome)
        assert welcome.floor == c["chumo"].participant_id and welcome.floor_control
        assert welcome.chat == sent and [x.text for x in sent][1] == "Chư Mố xin báo cáo tình hình lúa."
        chumo_s = Socket()
        chumo = await second.connect(a["chumo"], mid, chumo_s.send, chumo_s.close)
        you = chumo_s.got[0].you  # type: ignore[union-attr]
        assert not you.server_muted and not you.audio_muted and not you.hand_raised
        await second.handle(chumo, m.Join(type="join"))
        assert rooms[-1].forwarding[chumo.participant_id] is True  # its microphone goes on being forwarded
        poto_s = Socket()
        await second.connect(a["poto"], mid, poto_s.send, poto_s.close)
        you = poto_s.got[0].you  # type: ignore[union-attr]
        assert you.hand_raised and you.server_muted and poto_s.got[0].chat == sent  # type: ignore[union-attr]
        await second.handle(chair, m.GiveFloor(type="give_floor", participant_id=you.id))
        await second.handle(chair, m.FloorControl(type="floor_control", enabled=False))
        await second.end_meeting(a["chutri"], mid)
        await second.close()
        await first.close()

    asyncio.run(scenario())
    with db.session() as session:
        floor = session.get(MeetingFloor, mid)
        assert floor is not None
        # the second node saved its own changes: poto holds the floor, no hand up, floor control off
        assert floor.holder_user_id == a["poto"].id and floor.hand_user_ids == [] and not floor.floor_control
        assert len(session.scalars(select(ChatMessage)).all()) == 2
    db.dispose()
