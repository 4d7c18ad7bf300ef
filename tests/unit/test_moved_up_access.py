"""A case that moved up is acted on by its current owner and those above it, no one else."""
from __future__ import annotations

import pytest

from minsheng.enums import FeedbackRoute, Rating
from minsheng.errors import NotAllowed
from minsheng.places import Place
from minsheng.services import access, cases
from tests.factories import T0, report

ONE = Place("幸福里小区", "1号楼", "1单元", "101")  # the micro-grid under 第一网格


def act(db, fn, *args, **kwargs):
    with db.uow() as uow:
        return fn(uow, *args, **kwargs)


@pytest.fixture
def reopened(db, world):
    """On the micro-grid, handled by the worker of its parent grid, rated 不满意."""
    case_no = act(db, cases.open_case, report(place=ONE), now=T0).case_no
    worker = world.staff["worker1"]
    assert act(db, cases.get_case, case_no).assignee_id == worker
    act(db, cases.acknowledge, case_no, worker)
    act(db, cases.resolve, case_no, worker, "清理完毕", photo_path="var/photos/after.jpg")
    act(db, cases.rate, case_no, Rating.dissatisfied, FeedbackRoute.offline,
        staff_id=world.staff["desk"])
    assert act(db, cases.get_case, case_no).assignee_id == world.staff["leader1"]
    return case_no


def test_the_former_worker_on_the_parent_grid_cannot_acknowledge_a_reopened_case(
        db, world, reopened):
    worker = world.staff["worker1"]
    assert act(db, access.staff_may_act, worker, reopened) is False
    with pytest.raises(NotAllowed):
        act(db, cases.acknowledge, reopened, worker)
    assert act(db, cases.get_case, reopened).state == "reopened"


@pytest.mark.parametrize(("key", "allowed"), [
    ("leader1", True),  # the current owner
    ("desk", True), ("street", True), ("admin", True),  # above it
    ("worker1", False), ("worker1b", False), ("worker2", False),
])
def test_after_moving_up_only_the_owner_and_the_rungs_above_may_act(db, world, reopened,
                                                                     key, allowed):
    assert act(db, access.staff_may_act, world.staff[key], reopened) is allowed


def test_an_escalated_case_is_out_of_the_former_owners_hands(db, world):
    case_no = act(db, cases.open_case, report(place=ONE), now=T0).case_no
    worker = world.staff["worker1"]
    act(db, cases.escalate, case_no, worker, "需要网格长协调")
    with pytest.raises(NotAllowed):
        act(db, cases.acknowledge, case_no, worker)
    assert act(db, cases.acknowledge, case_no, world.staff["leader1"])
