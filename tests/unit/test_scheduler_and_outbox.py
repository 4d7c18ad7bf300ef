"""超时督办 once per deadline, the rating window, and the outbox's retry rules."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from minsheng.enums import Channel
from minsheng.models import OutboxMessage
from minsheng.services import cases, outbox, scheduler
from minsheng.settings import load_settings
from tests.factories import T0, report


def opened(db):
    with db.uow() as uow:
        return cases.open_case(uow, report(), now=T0).case_no


def kinds(db):
    with db.uow() as uow:
        return [(m.recipient, m.kind) for m in uow.session.execute(
            select(OutboxMessage).order_by(OutboxMessage.id)).scalars()]


def test_an_unacknowledged_case_escalates_once_per_deadline(db, world):
    case_no = opened(db)
    with db.uow() as uow:
        assert scheduler.scan_overdue(uow, T0 + timedelta(hours=1)).escalated == []
    with db.uow() as uow:
        # T0 is a Sunday: 2 working hours run out on Monday 11:00 (T0 + 25 h)
        assert scheduler.scan_overdue(uow, T0 + timedelta(hours=26)).escalated == [case_no]
    with db.uow() as uow:  # re-run (another host, or the next tick): nothing more
        assert scheduler.scan_overdue(uow, T0 + timedelta(hours=26, minutes=1)).escalated == []
        view = cases.get_case(uow, case_no)
    assert view.assignee_id == world.staff["leader1"] and view.events[-1].action == "overdue_ack"
    told = kinds(db)
    assert (f"staff:{world.staff['leader1']}", "case_overdue") in told  # the new owner
    assert (f"staff:{world.staff['desk']}", "case_supervise") in told  # the supervisor
    # the leader gets a fresh acknowledge deadline; missing it escalates again
    with db.uow() as uow:
        # escalated Monday 12:00: the leader's 2 working hours end at 15:30
        assert scheduler.scan_overdue(uow, T0 + timedelta(hours=30)).escalated == [case_no]
        assert cases.get_case(uow, case_no).assignee_id == world.staff["desk"]


def test_a_missed_resolve_deadline_escalates_once(db, world):
    case_no = opened(db)
    with db.uow() as uow:
        cases.acknowledge(uow, case_no, world.staff["worker1"], now=T0)
    late = T0 + timedelta(hours=56)  # 2 working days end on Tuesday 17:30
    with db.uow() as uow:
        assert scheduler.scan_overdue(uow, late).escalated == [case_no]
    with db.uow() as uow:
        cases.acknowledge(uow, case_no, world.staff["leader1"], now=late)
        assert scheduler.scan_overdue(uow, late + timedelta(hours=5)).escalated == []
        actions = [e.action for e in cases.get_case(uow, case_no).events]
    assert actions.count("overdue_resolve") == 1


def test_unrated_cases_get_one_reminder_then_close(db, world):
    case_no = opened(db)
    worker = world.staff["worker1"]
    with db.uow() as uow:
        cases.acknowledge(uow, case_no, worker, now=T0)
        cases.resolve(uow, case_no, worker, "好了", now=T0, photos=["after.jpg"])
    settings = load_settings(_env_file=None)
    for days in (2, 3, 4, 5):
        with db.uow() as uow:
            scheduler.scan_ratings(uow, T0 + timedelta(days=days), settings)
    assert [k for _, k in kinds(db)].count("rating_reminder") == 1
    with db.uow() as uow:
        result = scheduler.scan_ratings(uow, T0 + timedelta(days=7), settings)
        assert result.closed == [case_no]
        view = cases.get_case(uow, case_no)
    assert view.state == "closed" and view.rating is None


def test_outbox_dedupes_leases_backs_off_and_gives_up_visibly(db):
    with db.uow() as uow:
        first = outbox.enqueue(uow, Channel.telegram, "staff:1", "k", "hi", dedupe_key="d1",
                               now=T0)
        again = outbox.enqueue(uow, Channel.telegram, "staff:1", "k", "hi", dedupe_key="d1",
                               now=T0)
        assert first is again
        uow.commit()
        row_id = first.id
    with db.uow() as uow:
        assert [r.id for r in outbox.claim_due(uow, T0, 10)] == [row_id]
        uow.commit()
    with db.uow() as uow:  # leased: a second sender does not get it
        assert outbox.claim_due(uow, T0 + timedelta(seconds=5), 10) == []
        outbox.mark_failed(uow, row_id, "502 Bad Gateway", now=T0)
        uow.commit()
        row = uow.session.get(OutboxMessage, row_id)
        assert row.next_attempt_at == T0 + timedelta(seconds=30) and row.failed_at is None
    now = T0
    for _ in range(outbox.MAX_ATTEMPTS):
        now += timedelta(hours=2)
        with db.uow() as uow:
            for row in outbox.claim_due(uow, now, 10):
                outbox.mark_failed(uow, row.id, "still down", now=now)
            uow.commit()
    with db.uow() as uow:
        row = uow.session.get(OutboxMessage, row_id)
        assert row.failed_at is not None and row.attempts == outbox.MAX_ATTEMPTS
        assert row.last_error == "still down" and row.sent_at is None
        assert outbox.claim_due(uow, now + timedelta(days=1), 10) == []


def test_backoff_doubles_up_to_an_hour():
    assert [outbox.backoff(n).total_seconds() for n in (1, 2, 3, 10)] == [30, 60, 120, 3600]


def test_mark_sent_finishes_a_message(db):
    with db.uow() as uow:
        row = outbox.enqueue(uow, Channel.web, "resident:1", "k", "hi", now=T0)
        uow.commit()
        outbox.claim_due(uow, T0, 1)
        outbox.mark_sent(uow, row.id, now=T0)
        uow.commit()
        assert outbox.pending(uow) == []
