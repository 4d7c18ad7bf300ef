"""What residents are told as their case moves, and the rule that a handler cannot record
their own 回访 (SQLite, create_all)."""
from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from minsheng.clock import format_local
from minsheng.enums import Channel, FeedbackRoute, Rating
from minsheng.errors import IllegalTransition, NotAllowed
from minsheng.models import OutboxMessage
from minsheng.places import Place
from minsheng.services import cases, scheduler
from tests.factories import T0, report, resident


def act(db, fn, *args, **kwargs):
    with db.uow() as uow:
        return fn(uow, *args, **kwargs)


def told(db, kind=None) -> list[SimpleNamespace]:
    """Messages queued for residents (oldest first)."""
    with db.uow() as uow:
        query = select(OutboxMessage).where(OutboxMessage.recipient.like("resident:%"))
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        rows = uow.session.execute(query.order_by(OutboxMessage.id)).scalars()
        return [SimpleNamespace(kind=m.kind, text=m.text, payload=m.payload, channel=m.channel,
                                recipient=m.recipient, dedupe_key=m.dedupe_key) for m in rows]


@pytest.fixture
def opened(db, world):
    with db.uow() as uow:
        return cases.open_case(uow, report(), now=T0)


@pytest.fixture
def acknowledged(db, world, opened):
    act(db, cases.acknowledge, opened.case_no, world.staff["worker1"], now=T0)
    return opened


def test_acknowledging_tells_the_resident_who_and_by_when_in_local_time(db, world, opened):
    assert act(db, cases.acknowledge, opened.case_no, world.staff["worker1"], now=T0)
    [notice] = told(db, "notice_acknowledged")
    assert notice.channel == Channel.telegram and notice.payload["case_no"] == opened.case_no
    # the handler's public name and the grid, never the private name (王芳)
    assert "王grid_worker" in notice.text and "幸福社区第一网格" in notice.text
    assert "王芳" not in notice.text
    deadline = format_local(opened.resolve_deadline, "Asia/Shanghai", "resident")
    assert deadline == "11月24日 17:30" and f"{deadline}前办结" in notice.text


def test_a_repeated_press_queues_nothing_new(db, world, opened):
    worker = world.staff["worker1"]
    act(db, cases.acknowledge, opened.case_no, worker, now=T0)
    act(db, cases.acknowledge, opened.case_no, worker, now=T0)
    act(db, cases.add_progress, opened.case_no, worker, "已联系物业", now=T0)
    act(db, cases.add_progress, opened.case_no, worker, "已联系物业", now=T0)
    act(db, cases.resolve, opened.case_no, worker, "已清理", now=T0, photos=["after.jpg"])
    act(db, cases.resolve, opened.case_no, worker, "已清理", now=T0, photos=["after.jpg"])
    kinds = [m.kind for m in told(db)]
    assert kinds == ["notice_acknowledged", "notice_progress", "rating_request"]
    assert all(m.dedupe_key for m in told(db))


def test_progress_tells_the_note_and_the_photos(db, world, acknowledged):
    act(db, cases.add_progress, acknowledged.case_no, world.staff["worker1"], "已联系物业清运",
        photos=["var/photos/p1.jpg"], now=T0)
    [notice] = told(db, "notice_progress")
    assert "有新进展：已联系物业清运" in notice.text and "附照片 1 张" in notice.text
    assert notice.payload["photos"] == ["var/photos/p1.jpg"]


def test_resolving_says_what_was_done_with_photos_and_buttons_for_this_case(
        db, world, acknowledged):
    no = acknowledged.case_no
    act(db, cases.resolve, no, world.staff["worker1"], "杂物已清走，楼道已打扫",
        photo_path="var/photos/done.jpg", now=T0 + timedelta(hours=1))
    [notice] = told(db, "rating_request")
    assert "已办结" in notice.text and "处理结果：杂物已清走，楼道已打扫" in notice.text
    assert "附现场照片 1 张" in notice.text and notice.payload["photos"] == ["var/photos/done.jpg"]
    buttons = notice.payload["buttons"]
    assert [b["title"] for b in buttons] == ["满意", "基本满意", "不满意"]
    for button, rating in zip(buttons, Rating):
        intent, _, entities = button["payload"].partition("{")
        assert intent == f"/rate_{rating.value}"
        assert json.loads("{" + entities) == {"case_no": no}


def test_escalation_names_the_new_owner_and_duty_phone(db, world, acknowledged):
    act(db, cases.escalate, acknowledged.case_no, world.staff["worker1"], "需要上级协调", now=T0)
    [notice] = told(db, "notice_escalated")
    assert "已上报上一级" in notice.text and "赵grid_leader" in notice.text
    assert "值班电话 0311-80" in notice.text and "赵敏" not in notice.text


def test_reassigning_names_the_new_owner(db, world, opened):
    act(db, cases.reassign, opened.case_no, world.staff["worker2"], world.staff["desk"], now=T0)
    [notice] = told(db, "notice_reassigned")
    assert "已改派" in notice.text and "幸福社区第二网格的李grid_worker" in notice.text


def test_returning_says_it_was_rerouted_and_to_whom(db, world, opened):
    act(db, cases.return_case, opened.case_no, world.staff["worker1"], "不是本网格", now=T0)
    act(db, cases.return_case, opened.case_no, world.staff["worker1"], "不是本网格", now=T0)
    [notice] = told(db, "notice_returned")
    assert "不归原网格管" in notice.text and "幸福社区的周community" in notice.text
    assert "不是本网格" not in notice.text  # staff's reason stays internal


def test_overdue_escalation_tells_the_resident_once(db, world, opened):
    late = T0 + timedelta(hours=26)  # Monday 12:00, an hour after the ack deadline
    act(db, scheduler.scan_overdue, late)
    act(db, scheduler.scan_overdue, late)
    [notice] = told(db, "notice_escalated")
    assert "已提级督办" in notice.text and "赵grid_leader" in notice.text


def test_merging_tells_the_reporter_of_the_duplicate_which_case_goes_on(db, world, opened):
    other = act(db, cases.open_case, report("msg-2", place=Place("阳光花园", "5号楼", None, None),
                                            who=resident(2)), now=T0)
    act(db, cases.merge, other.case_no, opened.case_no, world.staff["desk"], now=T0)
    act(db, cases.merge, other.case_no, opened.case_no, world.staff["desk"], now=T0)
    [notice] = told(db, "case_merged")
    assert notice.recipient.startswith("resident:") and opened.case_no in notice.text
    assert notice.payload["into"] == opened.case_no


def test_a_micro_grid_is_shown_to_residents_as_its_grid(db, world):
    with db.uow() as uow:
        from minsheng.models import Grid, Staff

        micro = uow.session.execute(select(Grid).where(Grid.code == "G1M1")).scalar_one()
        uow.session.add(Staff(name="陈微", public_name="陈网格员", role="grid_worker",
                              grid_id=micro.id, duty_phone="0311-8099999"))
        uow.commit()
    place = Place("幸福里小区", "1号楼", None, None)
    opened = act(db, cases.open_case, report("msg-m", place=place), now=T0)
    with db.uow() as uow:
        staff_id = cases.get_case(uow, opened.case_no).assignee_id
    act(db, cases.acknowledge, opened.case_no, staff_id, now=T0)
    [notice] = told(db, "notice_acknowledged")
    assert "微网格" not in notice.text and "幸福社区第一网格的陈网格员" in notice.text
    # the same at 受理 and on the 公示牌 the resident is given
    assert opened.grid_name == "第一网格1号楼微网格"  # staff see the micro-grid
    assert opened.public_grid_name == "幸福社区第一网格"
    assert act(db, cases.contact_for_resident, resident(1)).grid_name == "幸福社区第一网格"


def test_offline_residents_get_no_notice(db, world):
    hotline = resident(5, channel=Channel.hotline)
    opened = act(db, cases.open_case, report("msg-h", channel=Channel.hotline, who=hotline),
                 now=T0)
    worker = world.staff["worker1"]
    act(db, cases.acknowledge, opened.case_no, worker, now=T0)
    act(db, cases.add_progress, opened.case_no, worker, "在处理", now=T0)
    act(db, cases.resolve, opened.case_no, worker, "好了", now=T0, photos=["after.jpg"])
    assert told(db) == []


def test_the_rating_reminder_carries_the_buttons_and_is_sent_once(db, world, acknowledged):
    act(db, cases.resolve, acknowledged.case_no, world.staff["worker1"], "好了", now=T0, photos=["after.jpg"])
    later = T0 + timedelta(days=3, minutes=1)
    act(db, scheduler.scan_ratings, later)
    act(db, scheduler.scan_ratings, later)
    [notice] = told(db, "rating_reminder")
    assert acknowledged.case_no in notice.text
    assert [b["title"] for b in notice.payload["buttons"]] == ["满意", "基本满意", "不满意"]
    assert acknowledged.case_no in notice.payload["buttons"][0]["payload"]


# -- 回访 by someone else ---------------------------------------------------------------
@pytest.fixture
def resolved(db, world, acknowledged):
    act(db, cases.resolve, acknowledged.case_no, world.staff["worker1"], "好了", now=T0, photos=["after.jpg"])
    return acknowledged.case_no


def test_the_handler_cannot_record_their_own_callback(db, world, resolved):
    with pytest.raises(NotAllowed, match="承办人"):
        act(db, cases.rate, resolved, Rating.satisfied, FeedbackRoute.offline,
            staff_id=world.staff["worker1"])
    assert act(db, cases.get_case, resolved).state == "resolved"


def test_a_supervisor_who_resolved_on_the_handlers_behalf_cannot_either(db, world, opened):
    leader = world.staff["leader1"]
    act(db, cases.acknowledge, opened.case_no, leader, now=T0)
    act(db, cases.resolve, opened.case_no, leader, "网格长亲自处理", now=T0, photos=["after.jpg"])
    with pytest.raises(NotAllowed):
        act(db, cases.rate, opened.case_no, Rating.satisfied, FeedbackRoute.offline,
            staff_id=leader)


def test_another_staff_member_records_the_callback(db, world, resolved):
    assert act(db, cases.rate, resolved, Rating.satisfied, FeedbackRoute.offline,
               staff_id=world.staff["desk"])
    view = act(db, cases.get_case, resolved)
    assert view.state == "closed" and view.rating.route == "offline"


@pytest.mark.parametrize("situation, answer", [
    ("rated", "已经评价过了（满意）"),
    ("reopened", "正在重新办理"),
    ("open", "还在办理中"),
    ("withdrawn", "已撤回"),
])
def test_a_case_not_awaiting_a_rating_gets_a_clear_answer(db, world, opened, situation, answer):
    worker, no = world.staff["worker1"], opened.case_no
    if situation == "withdrawn":
        act(db, cases.withdraw, no, resident(1))
    elif situation != "open":
        act(db, cases.acknowledge, no, worker, now=T0)
        act(db, cases.resolve, no, worker, "好了", now=T0, photos=["after.jpg"])
        value = Rating.satisfied if situation == "rated" else Rating.dissatisfied
        act(db, cases.rate, no, value, FeedbackRoute.online, resident=resident(1))
    with pytest.raises(IllegalTransition, match=answer):
        act(db, cases.check_awaiting_rating, no, resident(1))
    with pytest.raises((IllegalTransition, NotAllowed)):
        act(db, cases.rate, no, Rating.basically_satisfied, FeedbackRoute.online,
            resident=resident(1))


def test_only_a_party_to_the_case_may_rate_it(db, world, resolved):
    act(db, cases.check_awaiting_rating, resolved, resident(1))  # no error
    with pytest.raises(NotAllowed):
        act(db, cases.check_awaiting_rating, resolved, resident(9))
