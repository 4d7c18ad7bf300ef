"""A second report of the same problem at the same place joins the open case."""
from __future__ import annotations

from sqlalchemy import func, select

from minsheng.enums import Category, FeedbackRoute, Rating
from minsheng.models import Case, CaseFollower, OutboxMessage
from minsheng.places import Place
from minsheng.services import cases
from tests.factories import T0, report, resident


def open_(db, *args, **kwargs):
    with db.uow() as uow:
        return cases.open_case(uow, *args, now=T0, **kwargs)


def count(db, column):
    with db.uow() as uow:
        return uow.session.execute(select(func.count(column))).scalar()


def test_same_category_same_place_is_merged_and_the_resident_follows(db, world):
    first = open_(db, report("a"))
    second = open_(db, report("b", who=resident(2), place=Place("幸福里", "三号楼", "2单元"),
                              photos=["p/2.jpg"]))
    assert second.merged_into == first.case_no and not second.created
    assert second.assignee_name == first.assignee_name
    assert count(db, Case.id) == 1 and count(db, CaseFollower.id) == 1
    with db.uow() as uow:
        view = cases.get_case(uow, first.case_no)
        assert view.followers == 1 and [p.path for p in view.photos] == ["p/2.jpg"]
        assert view.events[-1].action == "follow"
        # the follower sees the case among their own and may rate it
        assert [v.case_no for v in cases.cases_of_resident(uow, resident(2))] == [first.case_no]
    with db.uow() as uow:
        kinds = uow.session.execute(select(OutboxMessage.kind).order_by(OutboxMessage.id))
        assert kinds.scalars().all() == ["case_assigned", "case_follow"]


def test_replaying_the_duplicate_report_attaches_once(db, world):
    first = open_(db, report("a"))
    open_(db, report("b", who=resident(2)))
    again = open_(db, report("b", who=resident(2)))
    assert again.merged_into == first.case_no
    with db.uow() as uow:
        assert [e.action for e in cases.get_case(uow, first.case_no).events].count("follow") == 1


def test_different_category_unit_or_urgency_opens_a_new_case(db, world):
    open_(db, report("a"))
    assert open_(db, report("b", category=Category.sanitation)).created
    assert open_(db, report("c", place=Place("幸福里小区", "3号楼", "1单元"))).created
    assert open_(db, report("d", urgent=True)).created  # danger is never folded away
    assert count(db, Case.id) == 4


def test_a_finished_case_is_not_a_merge_target(db, world):
    first = open_(db, report("a"))
    with db.uow() as uow:
        cases.withdraw(uow, first.case_no, resident(1))
    assert open_(db, report("b", who=resident(2))).created


def test_staff_merge_links_a_duplicate_and_both_residents_are_asked_to_rate(db, world):
    first = open_(db, report("a"))
    other = open_(db, report("b", who=resident(2), place=Place("幸福里", "3号楼", "1单元")))
    worker = world.staff["worker1"]
    with db.uow() as uow:
        # both cases landed in grid 1; the worker of the duplicate merges it
        owner = cases.get_case(uow, other.case_no).assignee_id
        assert cases.merge(uow, other.case_no, first.case_no, owner)
    with db.uow() as uow:
        assert cases.merge(uow, other.case_no, first.case_no, owner) is False
        assert cases.get_case(uow, other.case_no).state == "merged"
        assert cases.get_case(uow, other.case_no).merged_into == first.case_no
        cases.acknowledge(uow, first.case_no, worker)
        cases.resolve(uow, first.case_no, worker, "已清理", photos=["after.jpg"])
        asked = uow.session.execute(select(OutboxMessage.recipient).where(
            OutboxMessage.kind == "rating_request")).scalars().all()
    assert len(asked) == 2
    with db.uow() as uow:
        assert cases.rate(uow, first.case_no, Rating.satisfied, FeedbackRoute.online,
                          resident=resident(2))
