"""催办 (automatic and manual), 延期, 加签 and 退单 reason codes through the services."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from minsheng.errors import IllegalTransition, InvalidInput, NotAllowed, NotFound
from minsheng.models import Case, CaseEvent, OutboxMessage
from minsheng.services import cases, cosign, extension, scheduler, urging
from tests.factories import T0, clock_limits, report

AFTER = "var/photos/after.jpg"  # 乱堆乱放 is closed with a photo
LIMIT = timedelta(hours=48)  # clutter, in clock hours (clock_limits below)


def act(db, fn, *args, **kwargs):
    with db.uow() as uow:
        return fn(uow, *args, **kwargs)


def events(db, case_no, action):
    with db.uow() as uow:
        return [(e.actor_type.value, e.actor_id, e.note, e.data) for e in uow.session.execute(
            select(CaseEvent).join(Case).where(Case.case_no == case_no,
                                               CaseEvent.action == action)
            .order_by(CaseEvent.id)).scalars()]


def notices(db, kind):
    with db.uow() as uow:
        return [(m.recipient, m.text, m.payload) for m in uow.session.execute(
            select(OutboxMessage).where(OutboxMessage.kind == kind)
            .order_by(OutboxMessage.id)).scalars()]


@pytest.fixture
def case_no(db, world):
    clock_limits(db)
    no = act(db, cases.open_case, report(), now=T0).case_no
    act(db, cases.acknowledge, no, world.staff["worker1"], now=T0)
    return no


def scan(db, at):
    return act(db, scheduler.scan_urges, at)


# -- 催办 ----------------------------------------------------------------------------------
def test_automatic_urges_at_half_and_four_fifths_of_the_limit_each_once(db, world, case_no):
    assert scan(db, T0 + LIMIT * 0.49) == []
    assert scan(db, T0 + LIMIT * 0.5) == [case_no]
    assert scan(db, T0 + LIMIT * 0.6) == []  # 50 % already sent
    assert scan(db, T0 + LIMIT * 0.8) == [case_no]
    assert scan(db, T0 + LIMIT * 0.95) == []
    urges = events(db, case_no, "urge")
    assert [(e[0], e[3]["auto"], e[3]["percent"]) for e in urges] == [
        ("system", True, 50), ("system", True, 80)]
    assert urges[0][3]["deadline"] == (T0 + LIMIT).isoformat()
    told = notices(db, "case_urged")
    assert [r for r, _, _ in told] == [f"staff:{world.staff['worker1']}"] * 2
    assert "已过50%" in told[0][1] and "已过80%" in told[1][1]


def test_a_scheduler_that_was_away_sends_only_the_highest_threshold_passed(db, world, case_no):
    assert scan(db, T0 + LIMIT * 0.9) == [case_no]
    assert [e[3]["percent"] for e in events(db, case_no, "urge")] == [80]
    assert scan(db, T0 + LIMIT * 0.99) == []


def test_an_overdue_case_gets_no_urge_the_overdue_escalation_handles_it(db, world, case_no):
    assert scan(db, T0 + LIMIT + timedelta(minutes=1)) == []
    assert events(db, case_no, "urge") == []


def test_a_moved_deadline_starts_a_new_plan(db, world, case_no):
    scan(db, T0 + LIMIT * 0.5)
    act(db, extension.request, case_no, world.staff["worker1"], "等待物业配合", 2,
        now=T0 + LIMIT * 0.55)
    approved_at = T0 + LIMIT * 0.6
    act(db, extension.decide, case_no, world.staff["leader1"], True, now=approved_at)
    new_deadline = T0 + LIMIT + timedelta(days=2)
    assert scan(db, approved_at + timedelta(minutes=1)) == []
    half = approved_at + (new_deadline - approved_at) / 2
    assert scan(db, half) == [case_no]
    assert [e[3]["deadline"] for e in events(db, case_no, "urge")] == [
        (T0 + LIMIT).isoformat(), new_deadline.isoformat()]


def test_a_supervisor_urges_by_hand_and_the_owner_is_told(db, world, case_no):
    leader = world.staff["leader1"]
    assert act(db, urging.urge, case_no, leader, "居民第三次来电", now=T0 + timedelta(hours=3))
    assert not act(db, urging.urge, case_no, leader, now=T0 + timedelta(hours=3, minutes=5))
    assert act(db, urging.urge, case_no, leader, now=T0 + timedelta(hours=5))  # later: again
    urges = events(db, case_no, "urge")
    assert [(e[0], e[1], e[3]["auto"]) for e in urges] == [("staff", leader, False)] * 2
    recipient, text, _ = notices(db, "case_urged")[0]
    assert recipient == f"staff:{world.staff['worker1']}" and "居民第三次来电" in text


@pytest.mark.parametrize("key", ["worker1", "worker1b", "worker2"])
def test_the_owner_and_peers_cannot_urge(db, world, case_no, key):
    with pytest.raises(NotAllowed, match="上级"):
        act(db, urging.urge, case_no, world.staff[key])


def test_a_closed_case_cannot_be_urged(db, world, case_no):
    act(db, cases.resolve, case_no, world.staff["worker1"], "已清理", photo_path=AFTER)
    with pytest.raises(IllegalTransition):
        act(db, urging.urge, case_no, world.staff["leader1"])


# -- 延期 ----------------------------------------------------------------------------------
def test_extension_requested_then_approved_moves_the_deadline(db, world, case_no):
    worker, leader = world.staff["worker1"], world.staff["leader1"]
    at = T0 + timedelta(hours=10)
    assert act(db, extension.request, case_no, worker, "等待燃气公司上门", 3, now=at)
    assert not act(db, extension.request, case_no, worker, "等待燃气公司上门", 3, now=at)
    asked = notices(db, "extension_requested")
    assert asked[0][0] == f"staff:{leader}" and asked[0][2]["relation"] == "approver"
    assert act(db, cases.get_case, case_no).pending_extension == "3天：等待燃气公司上门"
    assert act(db, extension.decide, case_no, leader, True, now=at + timedelta(hours=1))
    assert not act(db, extension.decide, case_no, leader, True)  # a second press
    view = act(db, cases.get_case, case_no)
    assert view.resolve_deadline == T0 + LIMIT + timedelta(days=3)
    assert view.pending_extension is None
    [(_, _, note, data)] = events(db, case_no, "approve_extension")
    assert data["deadline"] == (T0 + LIMIT + timedelta(days=3)).isoformat()
    assert "同意延期3个工作日" in note and "新的办结时限" in note
    assert events(db, case_no, "request_extension")[0][3] == {
        "reason": "等待燃气公司上门", "days": 3, "request_id": 1}
    assert notices(db, "extension_decided")[0][0] == f"staff:{worker}"
    [(recipient, told, _)] = notices(db, "notice_extended")  # the resident, once
    assert recipient.startswith("resident:") and "等待燃气公司" not in told
    labels = [e.action_label for e in view.events]
    assert "申请延期" in labels and "同意延期" in labels


def test_a_refused_extension_keeps_the_deadline_and_tells_the_requester(db, world, case_no):
    worker = world.staff["worker1"]
    act(db, extension.request, case_no, worker, "人手不足", 2)
    assert act(db, extension.decide, case_no, world.staff["desk"], False, "请先联系物业")
    assert act(db, cases.get_case, case_no).resolve_deadline == T0 + LIMIT
    assert "不同意延期" in events(db, case_no, "refuse_extension")[0][2]
    assert "请先联系物业" in notices(db, "extension_decided")[0][1]
    # after a decision the owner may ask again
    assert act(db, extension.request, case_no, worker, "材料还没到", 1)


def test_one_pending_request_at_a_time(db, world, case_no):
    act(db, extension.request, case_no, world.staff["worker1"], "等配件", 2)
    with pytest.raises(IllegalTransition, match="等待审批"):
        act(db, extension.request, case_no, world.staff["worker1"], "另一个理由", 5)


@pytest.mark.parametrize(("key", "error"), [("worker1", NotAllowed), ("worker1b", NotAllowed),
                                            ("worker2", NotAllowed)])
def test_only_someone_above_the_owner_decides(db, world, case_no, key, error):
    act(db, extension.request, case_no, world.staff["worker1"], "等配件", 2)
    with pytest.raises(error):
        act(db, extension.decide, case_no, world.staff[key], True)


def test_only_the_owner_asks_and_only_after_acknowledging(db, world):
    no = act(db, cases.open_case, report(), now=T0).case_no
    with pytest.raises(IllegalTransition):
        act(db, extension.request, no, world.staff["worker1"], "等配件", 2)
    with pytest.raises(NotAllowed):
        act(db, extension.request, no, world.staff["leader1"], "等配件", 2)


def test_deciding_with_nothing_pending_is_refused(db, world, case_no):
    with pytest.raises(IllegalTransition, match="没有待审批"):
        act(db, extension.decide, case_no, world.staff["leader1"], True)


# -- 加签 ----------------------------------------------------------------------------------
def test_a_cosigned_grid_sees_and_notes_the_case_but_only_the_lead_resolves(db, world, case_no):
    worker, other = world.staff["worker1"], world.staff["worker2"]
    assert act(db, cosign.add, case_no, worker, grid_code="G2")
    assert not act(db, cosign.add, case_no, worker, grid_code="G2")
    [(_, _, note, data)] = events(db, case_no, "cosign")
    assert data == {"grid_code": "G2"} and "幸福社区第二网格" in note
    told = notices(db, "case_cosigned")
    assert told[0][0] == f"staff:{other}" and told[0][2]["relation"] == "cohandler"
    assert act(db, cases.get_case, case_no).cohandlers == ("幸福社区第二网格（G2）",)
    with db.uow() as uow:
        assert cosign.case_ids_of(uow.session, uow.session.get(cosign.Staff, other))
    assert act(db, cases.add_progress, case_no, other, "第二网格已派人协助")
    with pytest.raises(NotAllowed):
        act(db, cases.resolve, case_no, other, "办好了", photo_path=AFTER)
    assert act(db, cases.resolve, case_no, worker, "已清理", photo_path=AFTER)


def test_cosigning_a_staff_member(db, world, case_no):
    department = world.staff["department"]
    assert act(db, cosign.add, case_no, world.staff["leader1"], cosign_staff_id=department)
    assert events(db, case_no, "cosign")[0][3] == {"staff_id": department}
    assert act(db, cases.add_progress, case_no, department, "住建局已到场")


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"grid_code": "NOPE"}, NotFound), ({}, InvalidInput), ({"grid_code": "G1"}, InvalidInput),
    ({"cosign_staff_id": 9999}, NotFound), ({"cosign_staff_id": 10**15}, NotFound),
])
def test_bad_cosign_targets_are_refused_in_chinese(db, world, case_no, kwargs, error):
    with pytest.raises(error):
        act(db, cosign.add, case_no, world.staff["worker1"], **kwargs)


def test_a_peer_cannot_cosign(db, world, case_no):
    with pytest.raises(NotAllowed):
        act(db, cosign.add, case_no, world.staff["worker1b"], grid_code="G2")


# -- 退单 ----------------------------------------------------------------------------------
def test_a_return_with_a_reason_code_goes_to_the_dispatcher(db, world, case_no):
    assert act(db, cases.return_case, case_no, world.staff["worker1"], "缺少楼栋号",
               reason_code="incomplete")
    [(_, _, note, data)] = events(db, case_no, "return")
    assert data["reason_code"] == "incomplete" and data["note"] == "缺少楼栋号"
    assert note == "信息不全：缺少楼栋号"
    view = act(db, cases.get_case, case_no)
    assert view.assignee_id == world.staff["desk"]
    assert "信息不全" in notices(db, "case_returned")[0][1]
    [(_, told, _)] = notices(db, "notice_returned")
    assert "需要进一步核实情况" in told and "缺少楼栋号" not in told


@pytest.mark.parametrize(("code", "note"), [("lost", "x"), ("other", ""), (None, "")])
def test_a_return_without_a_valid_reason_is_refused(db, world, case_no, code, note):
    with pytest.raises(InvalidInput):
        act(db, cases.return_case, case_no, world.staff["worker1"], note, reason_code=code)
