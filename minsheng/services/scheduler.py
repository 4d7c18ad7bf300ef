"""Background scans: 超时督办 (overdue escalation), the rating window, and 自动催办
(``scan_urges``, in services.urging).

Both are safe to run on several hosts at once: on PostgreSQL the rows are selected
``FOR UPDATE SKIP LOCKED``, and each deadline leaves an event that makes a re-run a no-op.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select

from minsheng.clock import DEFAULT_TIMEZONE
from minsheng.enums import OPEN_STATES, ActorType, CaseState
from minsheng.errors import IllegalTransition
from minsheng.lifecycle import UNACKNOWLEDGED
from minsheng.models import Case, CaseEvent, Staff

from . import notices, notify
from .common import record, transition
from .escalation import move_up
from .urging import scan_urges  # noqa: F401  (催办 at 50 % and 80 % of the limit)

BATCH = 200
REASONS = {"overdue_resolve": "超时未办结", "overdue_ack": "超时未签收"}


@dataclass
class ScanResult:
    escalated: list[str] = field(default_factory=list)
    reminded: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)


def _not_yet(action: str, deadline):
    """No escalation event for this deadline yet (an event at or after it)."""
    return ~exists().where(CaseEvent.case_id == Case.id, CaseEvent.action == action,
                           CaseEvent.at >= deadline)


def _resolve_due(now):
    return and_(Case.resolve_deadline < now, _not_yet("overdue_resolve", Case.resolve_deadline))


def _ack_due(now):
    return and_(Case.state.in_(list(UNACKNOWLEDGED)), Case.ack_deadline < now,
                _not_yet("overdue_ack", Case.ack_deadline))


def scan_overdue(uow, now: datetime, limit: int = BATCH, settings=None) -> ScanResult:
    """Escalate each overdue case once per missed deadline; tell new owner and supervisor."""
    session, result = uow.session, ScanResult()
    rows = session.execute(
        select(Case, _resolve_due(now).label("resolve_due"))
        .where(Case.state.in_(list(OPEN_STATES)), or_(_resolve_due(now), _ack_due(now)))
        .order_by(Case.id).limit(limit).with_for_update(skip_locked=True, of=Case)).all()
    for case, resolve_due in rows:
        action = "overdue_resolve" if resolve_due else "overdue_ack"
        reason = REASONS[action]
        try:
            move_up(uow, case, now, action=action, table_action="overdue",
                    actor_type=ActorType.system, actor_id=None, reason=reason,
                    kind="case_overdue", tell_supervisor=True,
                    tz=getattr(settings, "timezone", None) or DEFAULT_TIMEZONE)
        except IllegalTransition:
            # top of the ladder: remind the owner instead; the event still marks it done
            record(session, case, action, now, actor_type=ActorType.system,
                   note=f"{reason}（已在最高层级，督办提醒）")
            owner = session.get(Staff, case.assignee_id) if case.assignee_id else None
            notify.tell_staff(uow, owner, "case_overdue",
                              f"超时督办：{notify.case_summary(case)}", case, now)
        result.escalated.append(case.case_no)
    uow.commit()
    return result


def scan_ratings(uow, now: datetime, settings=None, limit: int = BATCH) -> ScanResult:
    """Resolved but unrated: one reminder after N days, closed unrated after M days."""
    session, result = uow.session, ScanResult()
    remind_days = settings.rating_reminder_days if settings is not None else 3
    close_days = settings.rating_close_days if settings is not None else 7
    close_before = now - timedelta(days=close_days)
    remind_before = now - timedelta(days=remind_days)
    rows = session.execute(select(Case).where(
        Case.state == CaseState.resolved, Case.resolved_at <= remind_before,
        or_(Case.resolved_at <= close_before, Case.rating_reminded_at.is_(None)))
        .order_by(Case.id).limit(limit).with_for_update(skip_locked=True)).scalars().all()
    for case in rows:
        if case.resolved_at <= close_before:
            transition(session, case, "close", now, actor_type=ActorType.system,
                       note=f"{close_days}天内未评价，自动关闭")
            case.closed_at = now
            result.closed.append(case.case_no)
            continue
        case.rating_reminded_at = now
        event = record(session, case, "rating_reminder", now, actor_type=ActorType.system,
                       note="提醒居民评价")
        notices.rating_reminder(uow, case, event, now)
        result.reminded.append(case.case_no)
    uow.commit()
    return result
