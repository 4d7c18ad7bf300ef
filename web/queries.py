"""Read models for the console: the scoped, filtered, paginated case list (the domain's
``list_cases`` has neither scope nor pages); overdue means what the domain says it means.

Writes never happen here; every change goes through ``minsheng.services``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from minsheng.clock import DEFAULT_TIMEZONE, utc_bounds
from minsheng.enums import CaseState, Category, Channel, Handling
from minsheng.models import Case, Staff
from minsheng.services.queries import is_overdue, overdue_condition, subtree_ids
from web.deps import Scope

__all__ = [
    "PAGE_SIZE",
    "CaseFilter",
    "case_grid_id",
    "is_overdue",
    "list_cases",
    "staff_in_scope",
]

PAGE_SIZE = 50


@dataclass
class CaseFilter:
    state: CaseState | None = None
    category: Category | None = None
    grid: str | None = None  # grid code: that node and everything under it
    channel: Channel | None = None
    overdue: bool = False
    q: str | None = None  # case number or words of the description
    page: int = 1
    # The dashboard's drill-down: accepted on these local dates, handled this way.
    date_from: date | None = None
    date_to: date | None = None
    handling: Handling | None = None
    tz: str = DEFAULT_TIMEZONE


def list_cases(session, scope: Scope, flt: CaseFilter, now: datetime) -> tuple[list[Case], int]:
    """One page of cases the scope allows, newest first, and the total count."""
    conditions = []
    if scope.grid_ids is not None:
        conditions.append(or_(Case.grid_id.in_(scope.grid_ids or {-1}),
                              Case.id.in_(scope.case_ids or {-1})))  # 加签
    if flt.state:
        conditions.append(Case.state == flt.state)
    if flt.category:
        conditions.append(Case.category == flt.category)
    if flt.channel:
        conditions.append(Case.channel == flt.channel)
    if flt.grid:
        conditions.append(Case.grid_id.in_(subtree_ids(session, flt.grid) or {-1}))
    if flt.overdue:
        conditions.append(overdue_condition(now))
    if flt.handling:
        conditions.append(Case.handling == flt.handling)
    if flt.date_from:
        conditions.append(Case.accepted_at >= utc_bounds(flt.date_from, flt.date_from, flt.tz)[0])
    if flt.date_to:
        conditions.append(Case.accepted_at < utc_bounds(flt.date_to, flt.date_to, flt.tz)[1])
    if flt.q:
        words = flt.q.strip()[:100]
        conditions.append(or_(Case.case_no == words, Case.description.contains(words)))
    total = session.execute(select(func.count(Case.id)).where(*conditions)).scalar_one()
    rows = session.execute(
        select(Case).where(*conditions)
        .options(selectinload(Case.grid), selectinload(Case.assignee))
        .order_by(Case.accepted_at.desc(), Case.id.desc())
        .limit(PAGE_SIZE).offset((max(flt.page, 1) - 1) * PAGE_SIZE)
    ).scalars().all()
    return list(rows), total


def case_id_of(session, case_no: str) -> int | None:
    return session.execute(select(Case.id).where(
        Case.case_no == (case_no or "").strip().upper())).scalar()


def case_grid_id(session, case_no: str) -> tuple[bool, int | None]:
    """(exists, grid id) of a case, for the scope check before anything is shown."""
    row = session.execute(
        select(Case.grid_id).where(Case.case_no == (case_no or "").strip().upper())
    ).first()
    return (row is not None, row[0] if row else None)


def staff_in_scope(session, scope: Scope) -> list[Staff]:
    rows = session.execute(
        select(Staff).where(Staff.active.is_(True)).order_by(Staff.grid_id, Staff.name)
    ).scalars().all()
    return [m for m in rows if scope.allows(m.grid_id)]
