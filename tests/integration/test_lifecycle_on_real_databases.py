"""The whole path on a migrated SQLite file and on PostgreSQL."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from minsheng.enums import FeedbackRoute, Rating
from minsheng.models import CaseEvent, OutboxMessage
from minsheng.services import cases, outbox, scheduler, stats
from tests.factories import T0, build_world, report, resident


def test_open_handle_rate_and_report(db):
    world = build_world(db)
    worker = world.staff["worker1"]
    with db.uow() as uow:
        first = cases.open_case(uow, report("a"), now=T0)
        dup = cases.open_case(uow, report("b", who=resident(2)), now=T0)
        assert dup.merged_into == first.case_no
        cases.acknowledge(uow, first.case_no, worker, now=T0)
        cases.resolve(uow, first.case_no, worker, "已清理", now=T0 + timedelta(hours=1),
                      photos=["var/photos/after.jpg"])
        cases.rate(uow, first.case_no, Rating.satisfied, FeedbackRoute.online,
                   resident=resident(1), now=T0 + timedelta(hours=2))
    with db.uow() as uow:
        view = cases.get_case(uow, first.case_no)
        assert view.state == "closed" and view.followers == 1
        actions = uow.session.execute(select(CaseEvent.action).order_by(CaseEvent.id))
        assert actions.scalars().all() == ["open", "route", "assign", "follow", "acknowledge",
                                           "resolve", "rate"]
        rep = stats.report(uow, date(2026, 11, 22), date(2026, 11, 22))
        assert (rep.overall.accepted, rep.overall.resolved, rep.overall.satisfied) == (1, 1, 1)


def test_scans_and_outbox_on_real_databases(db):
    build_world(db)
    with db.uow() as uow:
        case_no = cases.open_case(uow, report(), now=T0).case_no
    late = T0 + timedelta(hours=26)  # T0 is a Sunday: 2 working hours end Monday 11:00
    with db.uow() as uow:
        assert scheduler.scan_overdue(uow, late).escalated == [case_no]
    with db.uow() as uow:
        assert scheduler.scan_overdue(uow, late).escalated == []
        due = outbox.claim_due(uow, late, 100)
        assert {r.kind for r in due} == {"case_assigned", "case_overdue", "case_moved",
                                         "case_supervise", "notice_escalated"}
        for row in due:
            outbox.mark_sent(uow, row.id)
        uow.commit()
        assert uow.session.execute(select(OutboxMessage).where(
            OutboxMessage.sent_at.is_(None))).first() is None


def test_a_follow_up_delivered_twice_is_attached_once(db):
    """The reporter writes about the same problem again (no new follower to record): only
    the follow event's key, looked up in the database, keeps the replay from a second one."""
    build_world(db)
    with db.uow() as uow:
        first = cases.open_case(uow, report("a"), now=T0)
    for _ in range(2):
        with db.uow() as uow:
            again = cases.open_case(uow, report("b"), now=T0)
        assert again.merged_into == first.case_no
    with db.uow() as uow:
        follows = select(CaseEvent.data).where(CaseEvent.action == "follow")
        assert [data["key"] for data in uow.session.execute(follows).scalars()] == ["b"]
