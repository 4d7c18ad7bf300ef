"""催办, 延期, 加签 and 退单 on a migrated SQLite file and on PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from minsheng.enums import Category
from minsheng.models import CaseEvent
from minsheng.services import cases, cosign, extension, scheduler
from tests.factories import T0, build_world, clock_limits, report, resident


def test_urges_extension_cosign_and_return_on_real_databases(db):
    world = build_world(db)
    worker, leader = world.staff["worker1"], world.staff["leader1"]
    clock_limits(db)  # 48 clock hours to resolve: 催办 at 24 h
    with db.uow() as uow:
        case_no = cases.open_case(uow, report(), now=T0).case_no
    with db.uow() as uow:
        cases.acknowledge(uow, case_no, worker, now=T0)
    with db.uow() as uow:
        assert scheduler.scan_urges(uow, T0 + timedelta(hours=25)) == [case_no]
    with db.uow() as uow:
        assert scheduler.scan_urges(uow, T0 + timedelta(hours=26)) == []
    with db.uow() as uow:
        extension.request(uow, case_no, worker, "等待物业", 1, now=T0 + timedelta(hours=30))
    with db.uow() as uow:
        extension.decide(uow, case_no, leader, True, now=T0 + timedelta(hours=31))
    with db.uow() as uow:
        cosign.add(uow, case_no, worker, grid_code="G2", now=T0 + timedelta(hours=32))
    with db.uow() as uow:
        cases.add_progress(uow, case_no, world.staff["worker2"], "协助中")
    with db.uow() as uow:
        other = cases.open_case(uow, report("b", description="垃圾桶满了没人清运",
                                       category=Category.sanitation, who=resident(2)),
                                now=T0 + timedelta(hours=33))
    with db.uow() as uow:
        owner = cases.get_case(uow, other.case_no).assignee_id
        cases.return_case(uow, other.case_no, owner, "", reason_code="not_our_duty")
    with db.uow() as uow:
        rows = uow.session.execute(select(CaseEvent.action, CaseEvent.data)
                                   .order_by(CaseEvent.id)).all()
        actions = [a for a, _ in rows]
        assert actions[4:9] == ["urge", "request_extension", "approve_extension", "cosign",
                                "progress"] and actions[-1] == "return"
        assert rows[-1][1]["reason_code"] == "not_our_duty"
        view = cases.get_case(uow, case_no)
        assert view.resolve_deadline == T0 + timedelta(hours=72)
