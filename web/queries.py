"""Read models for the console: the scoped, filtered, paginated case list (the domain's
``list_cases`` has neither scope nor pages); overdue means what the domain says it means.

Writes never happen here; every change goes through ``minsheng.services``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import selectinload

from minsheng.clock import DEFAULT_TIMEZONE, utc_bounds
from minsheng.enums import OPEN_STATES, CaseState, Category, Channel, Handling
from minsheng.models import Case, Grid, Staff
from minsheng.services.queries import is_overdue, overdue_condition, subtree_ids
from web.deps import Scope

__all__ = [
    "PAGE_SIZE",
    "VIEWS",
    "CaseFilter",
    "case_grid_id",
    "grids_in_scope",
    "is_overdue",
    "list_cases",
    "staff_in_scope",
]

PAGE_SIZE = 50
# The desk's tabs: 待办 is the login's own open cases, most urgent first; the others are
# the whole scope. A tab is a preset, the filters below narrow it further.
VIEWS = {"todo": "我的待办", "open": "在办", "overdue": "超时", "all": "全部"}


@dataclass
class CaseFilter:
    state: CaseState | None = None
    category: Category | None = None
    grid: str | None = None  # grid code: that node and everything under it
    channel: Channel | None = None
    overdue: bool = False
    q: str | None = None  # case number or words of the description
    page: int = 1
    view: str = "all"  # one of VIEWS
    staff_id: int | None = None  # whose 待办
    # The dashboard's drill-down: accepted on these local dates, handled this way.
    date_from: date | None = None
    date_to: date | None = None
    handling: Handling | None = None
    tz: str = DEFAULT_TIMEZONE


def _view_conditions(flt: CaseFilter, scope: Scope, now: datetime) -> list:
    if flt.view == "todo":  # assigned to me, or co-handled (加签) by me or my grid
        mine = Case.assignee_id == (flt.staff_id if flt.staff_id is not None else -1)
        cosigned = Case.id.in_(scope.case_ids or {-1})
        return [Case.state.in_(list(OPEN_STATES)), or_(mine, cosigned)]
    if flt.view == "open":
        return [Case.state.in_(list(OPEN_STATES))]
    if flt.view == "overdue":
        return [overdue_condition(now)]
    return []


def _order(flt: CaseFilter, now: datetime) -> tuple:
    """Open-case tabs: overdue first, then the nearest deadline; otherwise newest first."""
    if flt.view in ("todo", "open", "overdue"):
        late_first = case((overdue_condition(now), 0), else_=1)
        return (late_first, Case.resolve_deadline.is_(None), Case.resolve_deadline, Case.id)
    return (Case.accepted_at.desc(), Case.id.desc())


def list_cases(session, scope: Scope, flt: CaseFilter, now: datetime) -> tuple[list[Case], int]:
    """One page of the cases the scope allows in the chosen tab, and the total count."""
    conditions = _view_conditions(flt, scope, now)
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
        .order_by(*_order(flt, now))
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


def grids_in_scope(session, scope: Scope) -> list[Grid]:
    """The grid nodes a login may filter by (the desk's searchable list), by code."""
    rows = session.execute(select(Grid).order_by(Grid.code)).scalars().all()
    return [g for g in rows if scope.allows(g.id)]


def grid_code_for(grids: list[Grid], text: str | None) -> str | None:
    """The code of the grid the filter names: its name as picked from the list, or a code."""
    text = (text or "").strip()
    if not text:
        return None
    by_name = next((g.code for g in grids if g.name == text), None)
    return by_name or text
