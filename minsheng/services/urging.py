"""催办: automatic reminders to the owner at 50 % and 80 % of the resolve limit, and a
manual 催办 by anyone above the owner (a grid leader, the community, the street, an admin).

The automatic plan lives on the case: the deadline it is for (``urge_deadline``), when
that period started (``urge_from``), the highest threshold already sent
(``urged_percent``) and when the next one is due (``next_urge_at``). A moved deadline
(延期 approved, a reopened case) starts a new plan, so each threshold is sent once per
case and per deadline; the scan only reads cases that are due or not yet planned.
Events: ``urge`` with data ``{"auto": true, "percent": 50|80, "deadline": ISO}``, or with
a staff actor for a manual one.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select

from minsheng.clock import DEFAULT_TIMEZONE, format_local, utcnow
from minsheng.enums import OPEN_STATES, ActorType
from minsheng.errors import InvalidInput, NotAllowed
from minsheng.lifecycle import target_state
from minsheng.models import Case, Staff

from . import notify
from .access import is_supervisor
from .common import load_case, record, staff_actor

THRESHOLDS = (50, 80)
BATCH = 200
MANUAL_REPEAT = timedelta(hours=1)  # a second 催办 by the same person within it is a no-op
MAX_NOTE = 500


def _at(case: Case, percent: int) -> datetime:
    period = case.urge_deadline - case.urge_from
    return case.urge_from + period * percent / 100


def plan(case: Case, start: datetime) -> None:
    """A fresh plan for the case's current resolve deadline, counted from ``start``."""
    case.urge_deadline, case.urge_from, case.urged_percent = case.resolve_deadline, start, 0
    case.next_urge_at = _next_at(case)


def _next_at(case: Case) -> datetime | None:
    later = [p for p in THRESHOLDS if p > (case.urged_percent or 0)]
    return _at(case, later[0]) if later and case.urge_deadline > case.urge_from else None


def _due_percent(case: Case, now: datetime) -> int | None:
    """The highest threshold passed and not yet sent (lower ones are skipped then)."""
    if case.urge_deadline <= case.urge_from:
        return None
    passed = [p for p in THRESHOLDS if p > (case.urged_percent or 0) and _at(case, p) <= now]
    return passed[-1] if passed else None


def _owner(session, case: Case) -> Staff | None:
    return session.get(Staff, case.assignee_id) if case.assignee_id else None


def _auto_urge(uow, case: Case, percent: int, now: datetime, tz: str) -> None:
    deadline = case.urge_deadline.isoformat()
    record(uow.session, case, "urge", now, actor_type=ActorType.system,
           note=f"自动催办：办结时限已过{percent}%", data={"auto": True, "percent": percent,
                                                    "deadline": deadline})
    text = (f"催办提醒：办结时限已过{percent}%，请在"
            f"{format_local(case.urge_deadline, tz)}前办结：{notify.case_summary(case)}")
    notify.tell_staff(uow, _owner(uow.session, case), "case_urged", text, case, now,
                      dedupe_key=f"urge:{case.case_no}:{percent}:{deadline}")


def scan_urges(uow, now: datetime, settings=None, limit: int = BATCH) -> list[str]:
    """Plan unplanned cases, send each due threshold once; returns the urged case numbers."""
    session, urged = uow.session, []
    tz = getattr(settings, "timezone", None) or DEFAULT_TIMEZONE
    rows = session.execute(select(Case).where(
        Case.state.in_(list(OPEN_STATES)), Case.resolve_deadline.is_not(None),
        or_(Case.urge_deadline.is_(None), Case.urge_deadline != Case.resolve_deadline,
            Case.next_urge_at <= now))
        .order_by(Case.id).limit(limit).with_for_update(skip_locked=True)).scalars().all()
    for case in rows:
        if case.urge_deadline != case.resolve_deadline:
            plan(case, case.accepted_at if case.urge_deadline is None else now)
        percent = _due_percent(case, now)
        if percent is not None and now < case.urge_deadline:  # overdue: 超时督办 instead
            _auto_urge(uow, case, percent, now, tz)
            urged.append(case.case_no)
        if percent is not None:
            case.urged_percent = percent
        case.next_urge_at = _next_at(case)
    uow.commit()
    return urged


def _recent_urge_by(case: Case, staff_id: int, now: datetime) -> bool:
    return any(e.action == "urge" and e.actor_type == ActorType.staff and e.actor_id == staff_id
               and now - e.at < MANUAL_REPEAT for e in case.events)


def urge(uow, case_no: str, staff_id: int, note: str | None = None, now=None,
         settings=None) -> bool:
    """Manual 催办 by someone above the owner; the owner is told. False if just done."""
    session, now = uow.session, now or utcnow()
    case = load_case(session, case_no)
    target_state("urge", case.state, case.case_no)  # open cases only
    member = session.get(Staff, staff_id)
    if member is None or not is_supervisor(session, member, case):
        raise NotAllowed(f"只有承办人的上级（网格长、社区、街道）可以催办工单 {case.case_no}。")
    if case.assignee_id is None:
        raise InvalidInput(f"工单 {case.case_no} 还没有承办人，无需催办。")
    if _recent_urge_by(case, staff_id, now):
        return False
    note = (note or "").strip()[:MAX_NOTE] or None
    record(session, case, "urge", now, note=note or f"{member.public_name}催办",
           data={"auto": False}, **staff_actor(staff_id))
    why = f"（{note}）" if note else ""
    notify.tell_staff(uow, _owner(session, case), "case_urged",
                      f"{member.public_name}催办{why}，请抓紧办理：{notify.case_summary(case)}",
                      case, now)
    uow.commit()
    return True
