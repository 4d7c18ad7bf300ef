"""What staff do with a case: 签收, 进展, 办结, 上报, 退回, 改派, 合并.

Each function runs in the caller's unit of work and commits at the end. It returns True
when something changed and False when the same action had already been done. Residents
are told in the same unit of work (``notices``); ``settings`` gives the local time zone
of the deadlines they read.
"""
from __future__ import annotations

from sqlalchemy import select

from minsheng.clock import DEFAULT_TIMEZONE, utcnow
from minsheng.enums import ActorType, CaseState, GridLevel, Handling, StaffRole
from minsheng.errors import DomainError, IllegalTransition, InvalidInput
from minsheng.lifecycle import target_state
from minsheng.models import CaseEvent, CaseFollower, CaseHandlingDepartment, CasePhoto, Grid, Staff
from minsheng.settings import DEFAULT_RESOLVE_PHOTO_CATEGORIES

from . import limits, methods, notices, notify, returns
from .access import check_may_act, check_may_note
from .common import get_staff, load_case, record, staff_actor, transition
from .escalation import HANDLING_OF_LEVEL, move_up
from .routing import LEVEL_OF_ROLE, community_desk, worker_for

MAX_NOTE = 2000


def _clean(note: str | None) -> str | None:
    note = (note or "").strip()
    return note[:MAX_NOTE] or None


def _latest_by(case, staff_id: int | None) -> CaseEvent | None:
    """The newest event this person caused (system follow-ups excluded)."""
    for event in reversed(case.events):
        if event.actor_type == ActorType.staff and event.actor_id == staff_id:
            return event
        if event.actor_type != ActorType.system:
            return None
    return None


def _repeated(case, staff_id, action: str, note: str | None = None) -> bool:
    last = _latest_by(case, staff_id) if staff_id is not None else None
    return last is not None and last.action == action and (note is None or last.note == note)


def _tz(settings) -> str:
    return getattr(settings, "timezone", None) or DEFAULT_TIMEZONE


def _add_photos(session, case, paths, now) -> None:
    for path in paths:
        if path:
            session.add(CasePhoto(case_id=case.id, path=path, added_by=ActorType.staff,
                                  added_at=now))


def acknowledge(uow, case_no: str, staff_id: int, now=None, settings=None) -> bool:
    session, now = uow.session, now or utcnow()
    case = load_case(session, case_no)
    check_may_act(session, staff_id, case)
    event = transition(session, case, "acknowledge", now, **staff_actor(staff_id))
    if event is None:
        return False
    case.acknowledged_at = now
    notices.acknowledged(uow, case, event, now, _tz(settings))
    uow.commit()
    return True


def add_progress(uow, case_no: str, staff_id: int, note: str, now=None, photos=None) -> bool:
    session, now = uow.session, now or utcnow()
    note, photos = _clean(note), [p for p in photos or [] if p]
    if note is None and not photos:
        raise InvalidInput("请填写进展说明。")
    case = load_case(session, case_no)
    check_may_note(session, staff_id, case)  # co-handlers (加签) add notes too
    if _repeated(case, staff_id, "progress", note) and not photos:
        return False
    event = transition(session, case, "progress", now, note=note, **staff_actor(staff_id))
    _add_photos(session, case, photos, now)
    notices.progress(uow, case, event, note, photos, now)
    uow.commit()
    return True


def _check_photo(case, photos, settings) -> None:
    required = getattr(settings, "resolve_photo_categories", DEFAULT_RESOLVE_PHOTO_CATEGORIES)
    if not photos and case.category in {str(c) for c in required}:
        raise InvalidInput(f"「{case.category.label}」类工单办结须附一张处置后的现场照片。")


def resolve(uow, case_no: str, staff_id: int, note: str, photo_path=None, handling=None,
            now=None, photos=None, department_ids=(), settings=None) -> bool:
    """办结: the handling method (with the departments of 街道吹哨 and 转办), the photo some
    categories require; records on-time-ness and asks the residents for their rating.

    With no ``handling`` the method the case's level gives is kept, unless that method
    needs departments (then the handler must choose)."""
    session, now = uow.session, now or utcnow()
    chosen = methods.parse(handling)
    case = load_case(session, case_no)
    check_may_act(session, staff_id, case)
    if target_state("resolve", case.state, case.case_no) is None:
        return False  # a repeated 办结
    method = chosen or Handling(case.handling or HANDLING_OF_LEVEL[case.level])
    if chosen is None and method in methods.NEEDS_DEPARTMENTS:
        raise InvalidInput("请选择处理方式；街道吹哨和转办须写明部门。")
    departments = methods.departments_for(session, method, department_ids)
    added = [p for p in [photo_path, *(photos or [])] if p]
    _check_photo(case, added, settings)
    data = {"handling": method.value,
            "departments": [{"id": d.id, "name": d.name} for d in departments]}
    event = transition(session, case, "resolve", now, note=_clean(note), data=data,
                       **staff_actor(staff_id))
    case.resolved_at = now
    case.resolved_on_time = case.resolve_deadline is None or now <= case.resolve_deadline
    case.handling = method
    for department in departments:
        session.add(CaseHandlingDepartment(case_id=case.id, department_id=department.id))
    _add_photos(session, case, added, now)
    notices.resolved(uow, case, event, _clean(note), added, now)
    uow.commit()
    return True


def escalate(uow, case_no: str, actor_staff_id: int | None, reason: str, now=None,
             settings=None) -> bool:
    """上报: one rung up the ladder; the new owner and the previous one are told."""
    session, now = uow.session, now or utcnow()
    case = load_case(session, case_no)
    # a second press of an old button: the presser no longer owns the case, so check first
    if _repeated(case, actor_staff_id, "escalate"):
        return False
    check_may_act(session, actor_staff_id, case)
    move_up(uow, case, now, action="escalate", reason=_clean(reason),
            tz=_tz(settings), **staff_actor(actor_staff_id))
    uow.commit()
    return True


def return_case(uow, case_no: str, staff_id: int, reason: str, now=None,
                reason_code: str | None = None) -> bool:
    """退回: not this grid's matter — back to the community desk, which reroutes it.

    ``reason_code`` is one of ``returns.RETURN_REASONS``; ``reason`` its note (required
    for ``other``, which is also what a bare note without a code means).
    """
    session, now = uow.session, now or utcnow()
    reason_code, note = returns.check(reason_code, _clean(reason))
    reason = returns.text(reason_code, note)
    case = load_case(session, case_no)
    if _repeated(case, staff_id, "return"):  # before the check, as in escalate
        return False
    member = check_may_act(session, staff_id, case)
    grids = list(session.execute(select(Grid).order_by(Grid.id)).scalars())
    desk_grid = community_desk(grids, session.get(Grid, case.grid_id) if case.grid_id else None,
                               session)
    desk = worker_for(session, desk_grid)
    if desk is None or (member is not None and desk.id == member.id):
        raise DomainError("您已是社区服务台，请直接改派给正确的网格。")
    event = transition(session, case, "return", now, note=reason,
                       data={"to_staff_id": desk.id, "reason_code": reason_code,
                             "note": note}, **staff_actor(staff_id))
    case.grid_id, case.assignee_id = desk_grid.id, desk.id
    case.level = LEVEL_OF_ROLE[StaffRole(desk.role)]
    case.ack_deadline = limits.ack_deadline(session, case.category, case.urgent, now)
    notify.tell_staff(uow, desk, "case_returned",
                      f"网格退回，请改派（{reason}）：{notify.case_summary(case)}", case, now)
    notices.returned(uow, case, event, desk, now)
    uow.commit()
    return True


def reassign(uow, case_no: str, to_staff_id: int, by_staff_id: int | None, now=None,
             note: str | None = None, settings=None) -> bool:
    """改派: to a named staff member; a grid worker's grid becomes the case's grid."""
    session, now = uow.session, now or utcnow()
    case = load_case(session, case_no)
    check_may_act(session, by_staff_id, case)
    target = get_staff(session, to_staff_id)
    if case.assignee_id == target.id and CaseState(case.state) != CaseState.new:
        return False
    event = transition(session, case, "reassign", now, note=_clean(note) or target.public_name,
                       data={"to_staff_id": target.id}, **staff_actor(by_staff_id))
    target_grid = session.get(Grid, target.grid_id)
    if GridLevel(target_grid.level) in (GridLevel.grid, GridLevel.micro_grid):
        case.grid_id = target_grid.id
    case.assignee_id, case.level = target.id, LEVEL_OF_ROLE[StaffRole(target.role)]
    case.ack_deadline = limits.ack_deadline(session, case.category, case.urgent, now)
    notify.tell_staff(uow, target, "case_assigned",
                      f"您有新派单（改派）：{notify.case_summary(case)}", case, now)
    notices.moved(uow, case, event, "reassign", now, _tz(settings))
    uow.commit()
    return True


def merge(uow, duplicate_no: str, into_no: str, staff_id: int | None, now=None) -> bool:
    """合并: the duplicate ends as ``merged``; its reporter follows the earlier case."""
    session, now = uow.session, now or utcnow()
    if duplicate_no.strip().upper() == into_no.strip().upper():
        raise InvalidInput("不能把工单合并到它自己。")
    # lock in a fixed order so that two opposite merges cannot deadlock
    first, second = sorted([duplicate_no.strip().upper(), into_no.strip().upper()])
    locked = {first: load_case(session, first), second: load_case(session, second)}
    duplicate, into = locked[duplicate_no.strip().upper()], locked[into_no.strip().upper()]
    check_may_act(session, staff_id, duplicate)
    if CaseState(duplicate.state) == CaseState.merged:
        if duplicate.merged_into_id == into.id:
            return False
        raise IllegalTransition(f"工单{duplicate.case_no}已合并到其他工单。")
    if CaseState(into.state) in (CaseState.merged, CaseState.withdrawn, CaseState.closed):
        raise IllegalTransition(f"目标工单{into.case_no}已结束，不能合并进去。")
    event = transition(session, duplicate, "merge", now, note=f"合并至 {into.case_no}",
                       data={"into": into.case_no}, **staff_actor(staff_id))
    duplicate.merged_into_id = into.id
    if duplicate.resident_id and duplicate.resident_id != into.resident_id:
        exists = session.execute(select(CaseFollower.id).where(
            CaseFollower.case_id == into.id,
            CaseFollower.resident_id == duplicate.resident_id)).first()
        if not exists:
            session.add(CaseFollower(case_id=into.id, resident_id=duplicate.resident_id))
    record(session, into, "follow", now, note=f"合并了 {duplicate.case_no}",
           data={"from": duplicate.case_no}, **staff_actor(staff_id))
    notices.merged(uow, duplicate, into, event, now)
    owner = session.get(Staff, duplicate.assignee_id) if duplicate.assignee_id else None
    if owner is not None and owner.id != into.assignee_id:
        notify.tell_staff(uow, owner, "case_moved", f"工单已合并至 {into.case_no}",
                          duplicate, now)
    uow.commit()
    return True
