"""The ladder: grid worker → grid leader → community → street (吹哨) → referral.

A case moves to the next rung that has someone on it, searching the case's grid and its
ancestors (nearest first); departments (referral) may sit anywhere.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from minsheng.clock import DEFAULT_TIMEZONE
from minsheng.enums import LADDER, ActorType, EscalationLevel, Handling
from minsheng.errors import IllegalTransition
from minsheng.models import Case, Staff

from . import limits, notices, notify
from .common import ancestors, pick_staff, record, staff_of, transition
from .routing import ROLE_OF_LEVEL

HANDLING_OF_LEVEL = {
    EscalationLevel.grid: Handling.grid,
    EscalationLevel.grid_leader: Handling.grid,
    EscalationLevel.community: Handling.community,
    EscalationLevel.street: Handling.street_whistle,
    EscalationLevel.referral: Handling.referral,
}


def next_rung(session: Session, grid_id: int | None, level: EscalationLevel,
              exclude: int | None = None) -> tuple[EscalationLevel, Staff] | None:
    """The first rung above ``level`` with an active staff member, and who that is."""
    chain_ids = [g.id for g in ancestors(session, grid_id)]
    for rung in LADDER[LADDER.index(EscalationLevel(level)) + 1:]:
        role = ROLE_OF_LEVEL[rung]
        for node_id in chain_ids:
            found = [m for m in staff_of(session, [node_id], {role}) if m.id != exclude]
            chosen = pick_staff(session, found)
            if chosen is not None:
                return rung, chosen
        if rung == EscalationLevel.referral:
            anywhere = [m for m in session.execute(select(Staff).where(
                Staff.role == role, Staff.active.is_(True))).scalars() if m.id != exclude]
            chosen = pick_staff(session, anywhere)
            if chosen is not None:
                return rung, chosen
    return None


def move_up(uow, case: Case, now: datetime, *, action: str, actor_type: ActorType,
            actor_id: int | None, reason: str | None, keep_state: bool = False,
            kind: str = "case_escalated", tell_supervisor: bool = False,
            table_action: str | None = None, tz: str = DEFAULT_TIMEZONE):
    """Hand the case one rung up; records the event and who must be told.

    ``keep_state`` leaves a reopened case reopened (a 不满意 rating) instead of ``assigned``;
    the resident who rated is answered in the conversation, so no notice is queued then.
    ``table_action`` is the state-machine row when the event name differs (overdue_ack).
    """
    session = uow.session
    target = next_rung(session, case.grid_id, case.level, exclude=case.assignee_id)
    if target is None:
        raise IllegalTransition(f"工单{case.case_no}已在最高层级，无法再上报。")
    level, owner = target
    previous = session.get(Staff, case.assignee_id) if case.assignee_id else None
    supervisor = next_rung(session, case.grid_id, level, exclude=owner.id) \
        if tell_supervisor else None
    told = [owner] + [m for m in (previous, supervisor[1] if supervisor else None) if m]
    data = {"from_level": str(case.level), "to_level": str(level), "to_staff_id": owner.id,
            "notify": [m.id for m in told]}
    if keep_state:
        event = record(session, case, action, now, actor_type=actor_type, actor_id=actor_id,
                       note=reason, data=data)
    else:
        event = transition(session, case, table_action or action, now, event_action=action,
                           actor_type=actor_type,
                           actor_id=actor_id, note=reason, data=data)
    case.level, case.assignee_id = level, owner.id
    case.handling = HANDLING_OF_LEVEL[level]
    case.ack_deadline = limits.ack_deadline(session, case.category, case.urgent, now, tz)
    summary = notify.case_summary(case)
    why = f"（{reason}）" if reason else ""
    notify.tell_staff(uow, owner, kind, f"上报至您处理{why}：{summary}", case, now)
    if previous is not None and previous.id != owner.id:
        notify.tell_staff(uow, previous, "case_moved",
                          f"工单已转交{owner.public_name}办理{why}：{summary}", case, now)
    if supervisor is not None:
        notify.tell_staff(uow, supervisor[1], "case_supervise",
                          f"督办提醒{why}：{summary}，现由{owner.public_name}办理", case, now,
                          relation="supervisor")
    if not keep_state:
        notices.moved(uow, case, event, table_action or action, now, tz)
    return event
