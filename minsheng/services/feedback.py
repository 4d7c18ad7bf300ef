"""What residents (and staff recording a call-back) do: withdraw, add information, rate."""
from __future__ import annotations

from sqlalchemy import select

from minsheng.clock import utcnow
from minsheng.enums import (
    OPEN_STATES,
    RATING_LABELS,
    STATE_LABELS,
    ActorType,
    CaseState,
    FeedbackRoute,
    Rating,
)
from minsheng.errors import IllegalTransition, InvalidInput, NotAllowed
from minsheng.models import Case, CasePhoto, CaseRating, Staff

from . import limits, notify
from .access import check_may_act
from .common import find_resident, is_party, load_case, transition
from .contract import ResidentRef
from .escalation import move_up, next_rung

MAX_TEXT = 2000


def _resident_actor(resident) -> dict:
    return {"actor_type": ActorType.resident, "actor_id": resident.id if resident else None}


def _owner(session, case):
    return session.get(Staff, case.assignee_id) if case.assignee_id else None


def withdraw(uow, case_no: str, resident: ResidentRef, now=None) -> bool:
    """撤回 by the reporter; the assignee is told to stop."""
    session, now = uow.session, now or utcnow()
    case = load_case(session, case_no)
    person = find_resident(session, resident)
    if person is None or case.resident_id != person.id:
        raise NotAllowed("只有反映人本人可以撤回这个工单。")
    if transition(session, case, "withdraw", now, **_resident_actor(person)) is None:
        return False
    case.closed_at = now
    notify.tell_staff(uow, _owner(session, case), "case_withdrawn",
                      f"居民已撤回：{notify.case_summary(case)}", case, now)
    uow.commit()
    return True


def add_info(uow, case_no: str, resident: ResidentRef, text=None, photo_path=None,
             now=None) -> bool:
    """补充信息 or a photo from the reporter or a follower, while the case is open."""
    session, now = uow.session, now or utcnow()
    text = (text or "").strip()[:MAX_TEXT] or None
    if text is None and not photo_path:
        raise InvalidInput("请补充文字说明或照片。")
    case = load_case(session, case_no)
    person = find_resident(session, resident)
    if not is_party(session, case, person):
        raise NotAllowed("只能补充您自己反映的工单。")
    last = case.events[-1] if case.events else None
    if (last is not None and last.action == "add_info" and last.actor_id == person.id
            and last.note == text and not photo_path):
        return False  # the same message delivered twice
    transition(session, case, "add_info", now, note=text or "补充照片",
               **_resident_actor(person))
    if photo_path:
        session.add(CasePhoto(case_id=case.id, path=photo_path, added_by=ActorType.resident,
                              added_at=now))
    notify.tell_staff(uow, _owner(session, case), "case_info",
                      f"居民补充：{text or '（照片）'}", case, now)
    uow.commit()
    return True


def _latest_rating(session, case) -> CaseRating | None:
    return session.execute(select(CaseRating).where(CaseRating.case_id == case.id)
                           .order_by(CaseRating.id.desc()).limit(1)).scalar_one_or_none()


def may_record_callback(uow, case_no: str, staff_id: int | None) -> bool:
    """Whether ``staff_id`` may record the offline 回访 of a resolved case (not its handler)."""
    case = load_case(uow.session, case_no, lock=False)
    return (staff_id is not None and CaseState(case.state) == CaseState.resolved
            and staff_id not in _handlers(case))


def _handlers(case: Case) -> set[int]:
    """Who handled the case: its assignee and whoever recorded its latest 办结."""
    ids = {case.assignee_id} if case.assignee_id else set()
    resolved = next((e for e in reversed(case.events) if e.action == "resolve"), None)
    if resolved is not None and resolved.actor_type == ActorType.staff and resolved.actor_id:
        ids.add(resolved.actor_id)
    return ids


def _why_not_awaiting(session, case: Case) -> str | None:
    """None when the case waits for a rating; otherwise what to tell the resident."""
    state, no = CaseState(case.state), case.case_no
    if state == CaseState.resolved:
        return None
    latest = _latest_rating(session, case)
    if state == CaseState.closed and latest is not None:
        return (f"工单 {no} 已经评价过了（{RATING_LABELS[Rating(latest.value)]}），"
                "不用再评价，谢谢您！")
    if state == CaseState.closed:
        return f"工单 {no} 的评价期已过，已经结束，不用再评价了。有新问题随时告诉我。"
    if state == CaseState.withdrawn:
        return f"工单 {no} 已撤回，不需要评价。"
    if state == CaseState.merged:
        into = session.get(Case, case.merged_into_id) if case.merged_into_id else None
        where = f"工单 {into.case_no}" if into else "另一个工单"
        return f"工单 {no} 已合并到{where}办理，等那边办结后再请您评价。"
    if state in OPEN_STATES and latest is not None:
        return f"工单 {no} 正在重新办理（{STATE_LABELS[state]}），办好后会再请您评价。"
    return f"工单 {no} 还在办理中（{STATE_LABELS[state]}），办结后会请您评价。"


def check_awaiting_rating(uow, case_no: str, resident: ResidentRef) -> None:
    """Raises, with a clear Chinese answer, unless this resident may rate the case now."""
    session = uow.session
    case = load_case(session, case_no, lock=False)
    if not is_party(session, case, find_resident(session, resident)):
        raise NotAllowed(f"工单 {case.case_no} 不是您反映的，不能评价。")
    why = _why_not_awaiting(session, case)
    if why is not None:
        raise IllegalTransition(why)


def rate(uow, case_no: str, rating: Rating, route: FeedbackRoute, comment=None,
         staff_id=None, resident=None, now=None) -> bool:
    """满意/基本满意 close the case; 不满意 reopens it one level up.

    An offline 回访 is recorded by a staff member who did not handle the case.
    """
    session, now = uow.session, now or utcnow()
    rating, route = Rating(rating), FeedbackRoute(route)
    case = load_case(session, case_no)
    person = find_resident(session, resident) if resident is not None else None
    if resident is not None and not is_party(session, case, person):
        raise NotAllowed("只能评价您自己反映的工单。")
    check_may_act(session, staff_id, case)
    latest = _latest_rating(session, case)
    if (latest is not None and Rating(latest.value) == rating
            and CaseState(case.state) != CaseState.resolved):
        return False  # the same rating pressed twice
    if staff_id is not None and staff_id in _handlers(case):
        raise NotAllowed(f"您是工单 {case.case_no} 的承办人，不能为自己办理的工单登记回访，"
                         "请由其他工作人员回访。")
    why = _why_not_awaiting(session, case)
    if why is not None:
        raise IllegalTransition(why)
    actor = ({"actor_type": ActorType.staff, "actor_id": staff_id} if staff_id is not None
             else _resident_actor(person) if person is not None
             else {"actor_type": ActorType.system, "actor_id": None})
    comment = (comment or "").strip()[:MAX_TEXT] or None
    data = {"rating": rating.value, "route": route.value}
    note = RATING_LABELS[rating] + (f"：{comment}" if comment else "")
    dissatisfied = rating == Rating.dissatisfied
    if dissatisfied and CaseState(case.state) == CaseState.resolved \
            and next_rung(session, case.grid_id, case.level, case.assignee_id) is None:
        raise IllegalTransition(f"工单{case.case_no}已在最高层级，请联系街道处理。")
    transition(session, case, "rate_dissatisfied" if dissatisfied else "rate", now,
               event_action="rate", note=note, data=data, **actor)
    session.add(CaseRating(case_id=case.id, value=rating, route=route, comment=comment,
                           recorded_by_staff_id=staff_id, at=now))
    if not dissatisfied:
        case.closed_at = now
        uow.commit()
        return True
    _reopen_one_level_up(uow, case, now, comment)
    uow.commit()
    return True


def _reopen_one_level_up(uow, case, now, comment) -> None:
    session = uow.session
    case.resolved_at = case.resolved_on_time = case.rating_reminded_at = None
    _ack, case.resolve_deadline = limits.deadlines(session, case.category, case.urgent, now)
    move_up(uow, case, now, action="escalate", actor_type=ActorType.system, actor_id=None,
            reason="居民不满意，提级办理" + (f"（{comment}）" if comment else ""),
            keep_state=True, kind="case_reopened")
