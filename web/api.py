# ruff: noqa: B008  (FastAPI declares dependencies and form fields as call defaults)
"""JSON API under /api: cases (scoped like the desk) and statistics (= ``minsheng report --json``).

Authenticated by the console session; OpenAPI docs at /docs.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel

from minsheng.clock import utcnow
from minsheng.db import UnitOfWork
from minsheng.enums import CaseState, Category, Channel
from minsheng.services import cases
from minsheng.users import UserView
from web import queries
from web.dashboard import period, report_data
from web.deps import Scope, current_user, office_user, uow, user_scope

router = APIRouter(prefix="/api", tags=["api"])


class CaseSummary(BaseModel):
    case_no: str
    category: Category
    state: CaseState
    channel: Channel
    urgent: bool
    description: str
    address: str | None
    grid_code: str | None
    assignee: str | None
    accepted_at: datetime
    resolve_deadline: datetime | None
    resolved_at: datetime | None
    overdue: bool


class CasePage(BaseModel):
    total: int
    page: int
    page_size: int
    items: list[CaseSummary]


class CaseEventOut(BaseModel):
    at: datetime
    actor_type: str
    action: str
    action_label: str
    from_state: CaseState | None
    to_state: CaseState | None
    note: str | None


class CaseDetail(CaseSummary):
    xiaoqu: str | None
    building: str | None
    unit: str | None
    room: str | None
    lat: float | None
    lon: float | None
    level: str
    phone_masked: str
    rating: str | None
    rating_route: str | None
    photo_count: int
    events: list[CaseEventOut]


def _summary(case, now: datetime) -> dict[str, Any]:
    return {
        "case_no": case.case_no, "category": case.category, "state": case.state,
        "channel": case.channel, "urgent": case.urgent, "description": case.description,
        "address": case.address, "grid_code": case.grid.code if case.grid else None,
        "assignee": case.assignee.public_name if case.assignee else None,
        "accepted_at": case.accepted_at, "resolve_deadline": case.resolve_deadline,
        "resolved_at": case.resolved_at, "overdue": queries.is_overdue(case, now),
    }


@router.get("/cases", response_model=CasePage, summary="工单列表（按账号网格范围）")
def api_cases(state: CaseState | None = None, category: Category | None = None,
              grid: str | None = Query(None, description="网格编码：该节点及其下级"),
              channel: Channel | None = None, overdue: bool = False,
              q: str | None = Query(None, max_length=100), page: int = Query(1, ge=1),
              _user: UserView = Depends(current_user), scope: Scope = Depends(user_scope),
              unit: UnitOfWork = Depends(uow)):
    now = utcnow()
    flt = queries.CaseFilter(state, category, grid, channel, overdue, q, page)
    rows, total = queries.list_cases(unit.session, scope, flt, now)
    return {"total": total, "page": page, "page_size": queries.PAGE_SIZE,
            "items": [_summary(c, now) for c in rows]}


@router.get("/cases/{case_no}", response_model=CaseDetail, summary="一张工单及其办理过程")
def api_case(case_no: str, _user: UserView = Depends(current_user),
             scope: Scope = Depends(user_scope), unit: UnitOfWork = Depends(uow)):
    exists, grid_id = queries.case_grid_id(unit.session, case_no)
    if not exists or not scope.allows(grid_id):
        raise HTTPException(404, "找不到该工单，或您无权查看")
    view = cases.get_case(unit, case_no)
    return {
        "case_no": view.case_no, "category": view.category, "state": view.state,
        "channel": view.channel, "urgent": view.urgent, "description": view.description,
        "address": view.address, "grid_code": view.grid_code, "assignee": view.assignee_name,
        "accepted_at": view.accepted_at, "resolve_deadline": view.resolve_deadline,
        "resolved_at": view.resolved_at, "overdue": view.overdue, "xiaoqu": view.xiaoqu,
        "building": view.building, "unit": view.unit, "room": view.room, "lat": view.lat,
        "lon": view.lon, "level": view.level, "phone_masked": view.phone or "",
        "rating": view.rating.value if view.rating else None,
        "rating_route": view.rating.route if view.rating else None,
        "photo_count": len(view.photos),
        "events": [{"at": e.at, "actor_type": e.actor_type, "action": e.action,
                    "action_label": e.action_label, "from_state": e.from_state,
                    "to_state": e.to_state, "note": e.note} for e in view.events],
    }


@router.get("/stats", summary="7621 统计（与 minsheng report --json 相同）")
def api_stats(request: Request, date_from: date | None = Query(None, alias="from"),
              date_to: date | None = Query(None, alias="to"),
              _user: UserView = Depends(office_user), unit: UnitOfWork = Depends(uow)) -> dict:
    tz = request.app.state.settings.timezone
    start, end = period(date_from, date_to, tz)
    return report_data(unit, start, end, tz)["json"]
