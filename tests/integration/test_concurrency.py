"""Two workers on the same case at once: nothing is lost, nothing is done twice."""
from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from minsheng.models import Case, CaseEvent
from minsheng.services import cases, outbox, scheduler
from tests.factories import T0, build_world, report


def run_together(workers):
    """Start every callable at the same moment; re-raise the first error."""
    barrier, errors = threading.Barrier(len(workers)), []

    def wrap(fn):
        def target():
            barrier.wait()
            try:
                fn()
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)
        return target

    threads = [threading.Thread(target=wrap(fn)) for fn in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    if errors:
        raise errors[0]


def test_two_workers_writing_progress_at_once_lose_nothing(db):
    world = build_world(db)
    with db.uow() as uow:
        case_no = cases.open_case(uow, report(), now=T0).case_no
        cases.acknowledge(uow, case_no, world.staff["worker1"], now=T0)
    notes = 10

    def writer(staff_key):
        def run():
            for i in range(notes):
                with db.uow() as uow:
                    cases.add_progress(uow, case_no, world.staff[staff_key], f"{staff_key}-{i}")
        return run

    run_together([writer("worker1"), writer("leader1")])
    with db.uow() as uow:
        progress = uow.session.execute(select(CaseEvent.from_state).where(
            CaseEvent.action == "progress")).scalars().all()
        state = uow.session.execute(select(Case.state)).scalar_one()
    assert len(progress) == 2 * notes
    # serialised: exactly one writer saw 已签收, every later one saw 处置中
    assert sorted(map(str, progress)).count("acknowledged") == 1
    assert str(state) == "in_progress"


def test_a_double_press_from_two_devices_acknowledges_once(db):
    world = build_world(db)
    with db.uow() as uow:
        case_no = cases.open_case(uow, report(), now=T0).case_no
    results = []

    def press():
        with db.uow() as uow:
            results.append(cases.acknowledge(uow, case_no, world.staff["worker1"]))

    run_together([press, press])
    assert sorted(results) == [False, True]
    with db.uow() as uow:
        assert uow.session.execute(select(func.count(CaseEvent.id)).where(
            CaseEvent.action == "acknowledge")).scalar() == 1


def test_the_same_message_delivered_twice_at_once_opens_one_case(db):
    build_world(db)
    results = []

    def open_it(key):
        def run():
            with db.uow() as uow:
                results.append(cases.open_case(uow, report(key, place=None), now=T0))
        return run

    run_together([open_it("same"), open_it("same"), open_it("other"), open_it("third")])
    numbers = {r.case_no for r in results}
    assert len(numbers) == 3  # distinct keys get distinct numbers; the twin gets its twin's
    assert sum(r.created for r in results) == 3
    with db.uow() as uow:
        assert uow.session.execute(select(func.count(Case.id))).scalar() == 3


def test_two_scheduler_hosts_escalate_each_case_once(db):
    build_world(db)
    with db.uow() as uow:
        for i in range(6):
            cases.open_case(uow, report(f"k{i}", place=None), now=T0)
    escalated = []

    def host():
        with db.uow() as uow:
            # T0 is a Sunday: the 2 working hours to 签收 end Monday 11:00
            escalated.extend(scheduler.scan_overdue(uow, T0 + timedelta(days=2)).escalated)

    run_together([host, host])
    assert sorted(escalated) == sorted(set(escalated)) and len(escalated) == 6


def test_two_senders_never_claim_the_same_message(db):
    build_world(db)
    with db.uow() as uow:
        for i in range(20):
            cases.open_case(uow, report(f"k{i}", place=None), now=T0)
    claimed = []

    def sender():
        for _ in range(10):
            with db.uow() as uow:
                claimed.extend(r.id for r in outbox.claim_due(uow, T0, 3))
                uow.commit()

    run_together([sender, sender])
    assert len(claimed) == 20 and len(set(claimed)) == 20
