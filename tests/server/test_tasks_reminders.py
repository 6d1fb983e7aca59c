"""Deadline reminders: sent once each, across a restart (a second app on the same data) and racing ticks."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from server.app import create_app
from server.clock import FixedClock
from server.config import Settings
from server.db import Database
from server.models import Notification
from server.reminders import ReminderScheduler
from server.services import accounts, units
from tests.conftest import TEST_PASSWORD, login_headers
from tests.server.test_tasks_support import DEC, day, new_task, report, review, set_today


def _reminders(client: TestClient) -> Counter[tuple[int, str]]:
    """(task id, kind) → how many reminder notifications exist."""
    with client.app.state.db.session() as session:  # type: ignore[attr-defined]
        rows = session.scalars(
            select(Notification).where(Notification.kind.in_(["task_due_soon", "task_overdue"]))
        )
        return Counter((int(n.payload["data"]["task_id"]), n.kind) for n in rows)


def test_reminders_are_sent_once_across_a_restart_and_racing_schedulers(settings: Settings) -> None:
    assert settings.reminder_days_before == 3
    # each app's clock is fixed before it starts: its own reminder scheduler ticks at start-up with it (on the
    # real clock it sent t2's overdue reminder by itself once Vietnam's date passed 5 December 2026)
    app1 = create_app(settings)
    app1.state.clock = FixedClock()
    app1.state.clock.set_today(day(DEC, 1))
    with TestClient(app1) as first:
        with first.app.state.db.session() as session:  # type: ignore[attr-defined]
            units.seed_ia_pa(session)
            accounts.create_user(
                session, username="clerk", password=TEST_PASSWORD, role="clerk", unit_code="IAPA"
            )
            accounts.create_user(
                session, username="chumo", password=TEST_PASSWORD, role="member", unit_code="CHUMO"
            )
        clerk, chumo = login_headers(first, "clerk"), login_headers(first, "chumo")
        clock = set_today(first, day(DEC, 1))
        t1 = new_task(first, clerk, deadline=day(DEC, 10), title="Một")["id"]
        t2 = new_task(first, clerk, deadline=day(DEC, 5), title="Hai")["id"]
        t3 = new_task(first, clerk, deadline=day(DEC, 20), title="Ba", lead="IATUL")["id"]
        t4 = new_task(first, clerk, deadline=day(DEC, 4), title="Bốn")["id"]  # reported done: no reminder
        assert report(first, chumo, t4, "done", "Xong").status_code == 201
        t5 = new_task(first, clerk, deadline=day(DEC, 3), title="Năm")["id"]  # accepted: no reminder
        assert report(first, chumo, t5, "done", "Xong").status_code == 201
        assert review(first, clerk, t5, "accept").status_code == 200

        scheduler = ReminderScheduler(first.app.state.db, clock, settings)  # type: ignore[attr-defined]
        assert scheduler.tick() == 0  # 1/12: nothing within 3 days but the done ones
        clock.set_today(day(DEC, 2))
        assert scheduler.tick() == 1  # t2 is due on 5/12
        assert scheduler.tick() == 0
        assert _reminders(first) == Counter({(t2, "task_due_soon"): 1})
        texts = [n["text"] for n in first.get("/api/notifications", headers=chumo).json()]
        assert "Nhiệm vụ sắp đến hạn 05/12/2026 (còn 3 ngày): Hai." in texts

    # the server restarts: a new app, a new engine, the same database and data dir
    app2 = create_app(settings)
    clock2 = FixedClock()
    clock2.set_today(day(DEC, 2))
    app2.state.clock = clock2
    with TestClient(app2) as second:
        scheduler2 = ReminderScheduler(second.app.state.db, clock2, settings)  # type: ignore[attr-defined]
        assert scheduler2.tick() == 0

        # two processes tick at once on 7/12: t1 due soon, t2 overdue, each written once
        clock2.set_today(day(DEC, 7))
        other_db = Database(settings)
        racer = ReminderScheduler(other_db, clock2, settings)
        results: list[int] = []
        threads = [threading.Thread(target=lambda s=s: results.append(s.tick())) for s in (scheduler2, racer)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        other_db.dispose()
        assert sorted(results) in ([0, 2], [1, 1])
        assert scheduler2.tick() == 0
        assert _reminders(second) == Counter(
            {(t1, "task_due_soon"): 1, (t2, "task_due_soon"): 1, (t2, "task_overdue"): 1}
        )

        clock2.set_today(day(DEC, 11))
        assert scheduler2.tick() == 1  # t1 overdue
        clock2.set_today(day(DEC, 17))
        assert scheduler2.tick() == 1  # t3 due soon, to its own lead unit

        # an approved extension gives the new deadline its own reminders
        chumo, clerk = login_headers(second, "chumo"), login_headers(second, "clerk")
        second.app.state.clock = clock2  # type: ignore[attr-defined]
        ask = second.post(
            f"/api/tasks/{t2}/extensions",
            json={"new_deadline": "2026-12-31", "reason": "Mưa lũ"},
            headers=chumo,
        )
        assert ask.status_code == 201, ask.text
        assert (
            second.post(
                f"/api/tasks/{t2}/extensions/{ask.json()['id']}/decision",
                json={"decision": "approve"},
                headers=clerk,
            ).status_code
            == 200
        )
        assert scheduler2.tick() == 0
        clock2.set_today(day(DEC, 28))
        assert scheduler2.tick() == 2  # t2 due on 31/12, t3 overdue since 21/12
        assert scheduler2.tick() == 0

        assert _reminders(second) == Counter(
            {
                (t1, "task_due_soon"): 1,
                (t1, "task_overdue"): 1,
                (t2, "task_due_soon"): 2,  # for 5/12 and for 31/12
                (t2, "task_overdue"): 1,
                (t3, "task_due_soon"): 1,
                (t3, "task_overdue"): 1,
            }
        )
        with second.app.state.db.session() as session:  # type: ignore[attr-defined]
            overdue = session.scalar(
                select(Notification).where(Notification.dedupe_key == f"reminder:overdue:{t1}:2026-12-10")
            )
            assert overdue is not None
            assert overdue.payload["text"] == "Nhiệm vụ quá hạn (10/12/2026, trễ 1 ngày): Một."
            to_iatul = session.scalar(
                select(Notification).where(Notification.dedupe_key == f"reminder:due_soon:{t3}:2026-12-20")
            )
            assert to_iatul is not None and to_iatul.unit_id == units.get_by_code(session, "IATUL").id
        reminded = {
            n["data"]["task_id"]
            for n in second.get("/api/notifications", headers=chumo).json()
            if n["kind"] in ("task_due_soon", "task_overdue")
        }
        assert reminded == {t1, t2}  # t3's reminder went to IATUL, not to CHUMO


@pytest.mark.asyncio
async def test_run_ticks_until_stopped(settings: Settings) -> None:
    from server.db import migrate
    from server.services import tasks

    await asyncio.to_thread(migrate, settings)
    db = Database(settings)
    try:
        with db.session() as session:
            units.seed_ia_pa(session)
            user = accounts.create_user(
                session, username="clerk", password=TEST_PASSWORD, role="clerk", unit_code="IAPA"
            )
            clerk = accounts.actor_of(user)
            body = tasks.TaskCreate(title="Đường", lead_unit="KIMTAN", deadline=day(DEC, 3))
            task_id = tasks.create(session, clerk, body, day(DEC, 1)).id
        clock = FixedClock()
        clock.set_today(day(DEC, 2))
        stop = asyncio.Event()
        runner = asyncio.create_task(ReminderScheduler(db, clock, settings).run(stop, interval_s=0.05))
        await asyncio.sleep(0.5)  # several ticks
        stop.set()
        await asyncio.wait_for(runner, timeout=10)
        with db.session() as session:
            keys = list(
                session.scalars(select(Notification.dedupe_key).where(Notification.kind == "task_due_soon"))
            )
        assert keys == [f"reminder:due_soon:{task_id}:2026-12-03"]
    finally:
        db.dispose()
