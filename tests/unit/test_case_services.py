"""Opening, handling and rating cases through the services (SQLite, create_all)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from minsheng.enums import Category, Channel, FeedbackRoute, Handling, Rating
from minsheng.errors import IllegalTransition, InvalidInput, NotAllowed, NotFound
from minsheng.models import Case, CaseEvent, CaseRating, OutboxMessage
from minsheng.services import cases
from tests.factories import T0, report, resident


def events(db, case_no):
    with db.uow() as uow:
        return list(uow.session.execute(
            select(CaseEvent.action).join(Case).where(Case.case_no == case_no)
            .order_by(CaseEvent.id)).scalars())


def outbox(db, kind=None):
    with db.uow() as uow:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        return [(m.recipient, m.kind) for m in uow.session.execute(query).scalars()]


@pytest.fixture
def opened(db, world):
    with db.uow() as uow:
        return cases.open_case(uow, report(), now=T0)


def act(db, fn, *args, **kwargs):
    with db.uow() as uow:
        return fn(uow, *args, **kwargs)


def test_opening_routes_assigns_and_notifies_in_one_go(db, world, opened):
    assert opened.created and opened.case_no == "MS-20261122-0001"
    assert opened.grid_name == "幸福社区第一网格" and opened.assignee_phone
    # T0 is a Sunday: 2 working hours from Monday 09:00, 2 working days to Tuesday 17:30
    assert opened.ack_deadline == T0 + timedelta(hours=25)
    assert opened.resolve_deadline == T0 + timedelta(hours=55, minutes=30)  # clutter
    assert events(db, opened.case_no) == ["open", "route", "assign"]
    assert outbox(db) == [(f"staff:{world.staff['worker1']}", "case_assigned")]
    view = act(db, cases.get_case, opened.case_no)
    assert view.state == "assigned" and view.phone == "138****5678"
    assert [e.to_state for e in view.events] == ["new", "new", "assigned"]


def test_the_same_idempotency_key_never_makes_two_cases(db, world, opened):
    again = act(db, cases.open_case, report(), now=T0 + timedelta(minutes=5))
    assert again.case_no == opened.case_no and not again.created
    with db.uow() as uow:
        assert uow.session.execute(select(func.count(Case.id))).scalar() == 1


def test_case_numbers_count_per_local_day(db, world):
    late_evening_utc = T0.replace(hour=15, minute=59)  # 23:59 Shanghai, same day
    just_after_midnight = T0.replace(hour=16, minute=1)  # 00:01 the next day
    first = act(db, cases.open_case, report("a", place=None), now=late_evening_utc)
    second = act(db, cases.open_case, report("b", place=None), now=just_after_midnight)
    assert first.case_no == "MS-20261122-0001"
    assert second.case_no == "MS-20261123-0001"


def test_an_empty_description_is_refused(db, world):
    with pytest.raises(InvalidInput):
        act(db, cases.open_case, report(description="  "))


def test_full_life_acknowledge_progress_resolve_rate(db, world, opened):
    worker = world.staff["worker1"]
    assert act(db, cases.acknowledge, opened.case_no, worker, now=T0)
    assert act(db, cases.add_progress, opened.case_no, worker, "已联系物业", now=T0)
    assert act(db, cases.resolve, opened.case_no, worker, "已清理", now=T0 + timedelta(hours=3), photos=["after.jpg"])
    view = act(db, cases.get_case, opened.case_no)
    assert view.state == "resolved" and view.resolved_on_time is True
    assert view.handling == Handling.grid.value
    assert outbox(db, "rating_request") == [(f"resident:{view.resident_id}", "rating_request")]
    assert act(db, cases.rate, opened.case_no, Rating.satisfied, FeedbackRoute.online,
               resident=resident(1))
    view = act(db, cases.get_case, opened.case_no)
    assert view.state == "closed" and view.rating.label == "满意"
    assert events(db, opened.case_no)[-4:] == ["acknowledge", "progress", "resolve", "rate"]


def test_a_late_resolution_is_not_on_time(db, world, opened):
    worker = world.staff["worker1"]
    act(db, cases.acknowledge, opened.case_no, worker, now=T0)
    act(db, cases.resolve, opened.case_no, worker, "好了", now=T0 + timedelta(hours=56), photos=["after.jpg"])
    assert act(db, cases.get_case, opened.case_no).resolved_on_time is False


def test_repeated_presses_change_nothing_and_record_no_second_event(db, world, opened):
    worker = world.staff["worker1"]
    assert act(db, cases.acknowledge, opened.case_no, worker) is True
    assert act(db, cases.acknowledge, opened.case_no, worker) is False
    act(db, cases.add_progress, opened.case_no, worker, "在处理")
    assert act(db, cases.add_progress, opened.case_no, worker, "在处理") is False
    assert act(db, cases.resolve, opened.case_no, worker, "好了", photos=["after.jpg"]) is True
    assert act(db, cases.resolve, opened.case_no, worker, "好了", photos=["after.jpg"]) is False
    rate = (opened.case_no, Rating.basically_satisfied, FeedbackRoute.online)
    assert act(db, cases.rate, *rate, resident=resident(1)) is True
    assert act(db, cases.rate, *rate, resident=resident(1)) is False
    actions = events(db, opened.case_no)
    for action in ("acknowledge", "progress", "resolve", "rate"):
        assert actions.count(action) == 1
    assert len(outbox(db, "rating_request")) == 1


@pytest.mark.parametrize("step", ["resolve", "progress", "rate", "add_info_after_close"])
def test_illegal_service_calls_raise_and_record_nothing(db, world, opened, step):
    worker = world.staff["worker1"]
    if step == "add_info_after_close":
        act(db, cases.withdraw, opened.case_no, resident(1))
    before = events(db, opened.case_no)
    with pytest.raises(IllegalTransition):
        if step == "resolve":
            act(db, cases.resolve, opened.case_no, worker, "未签收就办结", photos=["after.jpg"])
        elif step == "progress":
            act(db, cases.add_progress, opened.case_no, worker, "未签收")
        elif step == "rate":
            act(db, cases.rate, opened.case_no, Rating.satisfied, FeedbackRoute.online)
        else:
            act(db, cases.add_info, opened.case_no, resident(1), text="还有一件事")
    assert events(db, opened.case_no) == before


def test_a_different_rating_after_closing_is_refused(db, world, opened):
    worker = world.staff["worker1"]
    act(db, cases.acknowledge, opened.case_no, worker)
    act(db, cases.resolve, opened.case_no, worker, "好了", photos=["after.jpg"])
    act(db, cases.rate, opened.case_no, Rating.satisfied, FeedbackRoute.online)
    with pytest.raises(IllegalTransition):
        act(db, cases.rate, opened.case_no, Rating.dissatisfied, FeedbackRoute.online)


def test_dissatisfied_reopens_one_level_up_and_tells_the_new_owner(db, world, opened):
    worker, leader, desk = (world.staff[k] for k in ("worker1", "leader1", "desk"))
    act(db, cases.acknowledge, opened.case_no, worker)
    act(db, cases.resolve, opened.case_no, worker, "好了", photos=["after.jpg"])
    assert act(db, cases.rate, opened.case_no, Rating.dissatisfied, FeedbackRoute.offline,
               comment="根本没清", staff_id=desk)
    view = act(db, cases.get_case, opened.case_no)
    assert view.state == "reopened" and view.assignee_id == leader
    assert view.level == "grid_leader" and view.resolved_at is None
    assert (f"staff:{leader}", "case_reopened") in outbox(db)
    with db.uow() as uow:
        rating = uow.session.execute(select(CaseRating)).scalar_one()
        assert rating.route == FeedbackRoute.offline and rating.comment == "根本没清"
    # the leader takes it from there
    assert act(db, cases.acknowledge, opened.case_no, leader)


def test_escalation_climbs_the_ladder_rung_by_rung(db, world, opened):
    expected = [("leader1", "grid_leader"), ("desk", "community"), ("street", "street"),
                ("department", "referral")]
    for key, level in expected:
        assert act(db, cases.escalate, opened.case_no, None, "需要上级协调")
        view = act(db, cases.get_case, opened.case_no)
        assert (view.assignee_id, view.level) == (world.staff[key], level)
    assert view.handling == Handling.referral.value
    with pytest.raises(IllegalTransition):
        act(db, cases.escalate, opened.case_no, None, "再上报")


def test_escalating_twice_by_the_same_person_is_one_escalation(db, world, opened):
    leader = world.staff["leader1"]
    assert act(db, cases.escalate, opened.case_no, leader, "上报")
    assert act(db, cases.escalate, opened.case_no, leader, "上报") is False
    assert events(db, opened.case_no).count("escalate") == 1


def test_return_goes_to_the_community_desk_which_reassigns(db, world, opened):
    worker, desk, other = (world.staff[k] for k in ("worker1", "desk", "worker2"))
    assert act(db, cases.return_case, opened.case_no, worker, "不是本网格")
    assert act(db, cases.return_case, opened.case_no, worker, "不是本网格") is False
    view = act(db, cases.get_case, opened.case_no)
    assert view.assignee_id == desk and view.grid_code == "C1"
    assert act(db, cases.reassign, opened.case_no, other, desk)
    view = act(db, cases.get_case, opened.case_no)
    assert view.assignee_id == other and view.grid_code == "G2" and view.state == "assigned"
    assert act(db, cases.reassign, opened.case_no, other, desk) is False


def test_staff_outside_the_case_are_refused(db, world, opened):
    for key in ("worker1b", "worker2"):  # a peer in the same grid; a worker of another grid
        with pytest.raises(NotAllowed):
            act(db, cases.acknowledge, opened.case_no, world.staff[key])


def test_withdraw_only_by_the_reporter(db, world, opened):
    with pytest.raises(NotAllowed):
        act(db, cases.withdraw, opened.case_no, resident(2))
    assert act(db, cases.withdraw, opened.case_no, resident(1))
    assert act(db, cases.withdraw, opened.case_no, resident(1)) is False
    assert act(db, cases.get_case, opened.case_no).state == "withdrawn"
    assert (f"staff:{world.staff['worker1']}", "case_withdrawn") in outbox(db)


def test_add_info_keeps_the_state_and_tells_the_assignee(db, world, opened):
    assert act(db, cases.add_info, opened.case_no, resident(1), text="是2单元东侧",
               photo_path="photos/a.jpg")
    view = act(db, cases.get_case, opened.case_no)
    assert view.state == "assigned" and [p.path for p in view.photos] == ["photos/a.jpg"]
    assert view.last_event == "补充信息：是2单元东侧"
    with pytest.raises(NotAllowed):
        act(db, cases.add_info, opened.case_no, resident(9), text="我不是反映人")


def test_unknown_case_is_not_found(db, world):
    with pytest.raises(NotFound):
        act(db, cases.get_case, "MS-20260101-9999")


def test_queries_for_residents_and_staff(db, world, opened):
    other = act(db, cases.open_case, report("x", category=Category.livelihood,
                                            channel=Channel.web), now=T0)
    mine = act(db, cases.cases_of_resident, resident(1))
    assert [v.case_no for v in mine] == [other.case_no, opened.case_no]
    assert act(db, cases.cases_of_resident, resident(42)) == []
    # the second case went to the other, less loaded worker of the grid
    assert [v.case_no for v in act(db, cases.open_cases_of_staff, world.staff["worker1"])] \
        == [opened.case_no]
    assert [v.case_no for v in act(db, cases.open_cases_of_staff, world.staff["worker1b"])] \
        == [other.case_no]
    listed = act(db, cases.list_cases, category=Category.livelihood)
    assert [v.case_no for v in listed] == [other.case_no]
    assert act(db, cases.list_cases, grid_code="G2") == []
    assert len(act(db, cases.list_cases, grid_code="C1")) == 2
    overdue = act(db, cases.list_cases, overdue=True, now=T0 + timedelta(hours=26))
    assert len(overdue) == 2  # neither acknowledged within 2 working hours (Monday 11:00)
    contact = act(db, cases.contact_for_resident, resident(1))
    assert contact.name == "孙grid_worker" and contact.phone  # the latest case's worker
    assert contact.grid_name == "幸福社区第一网格"
