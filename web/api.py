"""JSON API under /api: cases (scoped like the desk), staff actions on a case, and
statistics (= ``minsheng report --json``).

Authenticated by the console session or by ``Authorization: Bearer <token>`` (a token
from ``minsheng token create --username NAME`` acts as that login, with its scope).
OpenAPI docs at /docs.
"""
from __future__ import annotations

import base64
import binascii
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, validator

from minsheng import staff_actions
from minsheng.clock import format_local, utcnow
from minsheng.enums import CaseState, Category, Channel
from minsheng.errors import DomainError, IllegalTransition, InvalidInput, NotAllowed, NotFound
from minsheng.services import cases, hotspots, methods
from web import acting, queries, report_cache
from web import hotspots as hotspot_page
from web.dashboard import period, report_data
from web.deps import CurrentUser, UnitDep, UserScope
from web.uploads import MAX_UPLOAD_BYTES, UploadError, save_image

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
    detail: str | None = None  # 办结: 处理方式 and departments


class CaseDetail(CaseSummary):
    xiaoqu: str | None
    building: str | None
    unit: str | None
    room: str | None
    lat: float | None
    lon: float | None
    level: str
    phone_masked: str  # empty when none was left, or when the case is anonymous
    anonymous: bool = False
    rating: str | None
    rating_route: str | None
    photo_count: int
    handling_method: str | None = None
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
def api_cases(_user: CurrentUser, scope: UserScope, unit: UnitDep,
              state: CaseState | None = None, category: Category | None = None,
              grid: Annotated[str | None, Query(description="网格编码：该节点及其下级")] = None,
              channel: Channel | None = None, overdue: bool = False,
              q: Annotated[str | None, Query(max_length=100)] = None,
              page: Annotated[int, Query(ge=1)] = 1):
    now = utcnow()
    flt = queries.CaseFilter(state, category, grid, channel, overdue, q, page)
    rows, total = queries.list_cases(unit.session, scope, flt, now)
    return {"total": total, "page": page, "page_size": queries.PAGE_SIZE,
            "items": [_summary(c, now) for c in rows]}


@router.get("/cases/{case_no}", response_model=CaseDetail, summary="一张工单及其办理过程")
def api_case(case_no: str, _user: CurrentUser, scope: UserScope, unit: UnitDep):
    acting.check_scope(unit, scope, case_no)
    view = cases.get_case(unit, case_no)
    return {
        "case_no": view.case_no, "category": view.category, "state": view.state,
        "channel": view.channel, "urgent": view.urgent, "description": view.description,
        "address": view.address, "grid_code": view.grid_code, "assignee": view.assignee_name,
        "accepted_at": view.accepted_at, "resolve_deadline": view.resolve_deadline,
        "resolved_at": view.resolved_at, "overdue": view.overdue, "xiaoqu": view.xiaoqu,
        "building": view.building, "unit": view.unit, "room": view.room, "lat": view.lat,
        "lon": view.lon, "level": view.level, "phone_masked": view.phone or "",
        "anonymous": view.anonymous,
        "rating": view.rating.value if view.rating else None,
        "rating_route": view.rating.route if view.rating else None,
        "photo_count": len(view.photos), "handling_method": view.handling,
        "events": [{"at": e.at, "actor_type": e.actor_type, "action": e.action,
                    "action_label": e.action_label, "from_state": e.from_state,
                    "to_state": e.to_state, "note": e.note, "detail": e.detail}
                   for e in view.events],
    }


@router.get("/stats", summary="7621 统计（与 minsheng report --json 相同）")
def api_stats(request: Request, _user: CurrentUser, scope: UserScope, unit: UnitDep,
              date_from: Annotated[date | None, Query(alias="from")] = None,
              date_to: Annotated[date | None, Query(alias="to")] = None) -> JSONResponse:
    """Limited to the caller's part of the grid tree (docs/metrics.md)."""
    tz = request.app.state.settings.timezone
    start, end = period(date_from, date_to, tz)
    data = report_data(unit, start, end, tz, scope, report_cache.for_app(request.app))["json"]
    return JSONResponse(data)  # plain JSON already; FastAPI's encoder would walk it again


@router.get("/hotspots", summary="热点问题：同一地点、同类、相近问题的多次反映（按账号网格范围）")
def api_hotspots(request: Request, _user: CurrentUser, scope: UserScope, unit: UnitDep,
                 days: Annotated[int | None, Query(
                     ge=1, le=hotspot_page.MAX_DAYS,
                     description="统计最近几天（默认 MINSHENG_HOTSPOT_WINDOW_DAYS）")] = None
                 ) -> JSONResponse:
    """Most reports first; each with its trend against the window before and links to the
    case desk (docs/hotspots.md). As the scheduler's last snapshot found them (its time in
    ``computed_at``); another window, or no recent snapshot, is grouped here and cached."""
    settings = request.app.state.settings
    found, at = hotspot_page.current(request.app, unit, scope, days)
    return JSONResponse({  # plain JSON already (a district's list: FastAPI's encoder is slow)
        "days": hotspot_page.params(settings, days).window_days,
        "alert_reports": settings.hotspot_alert_reports,
        "computed_at": at.isoformat() + "Z",
        "computed_at_local": format_local(at, settings.timezone, "full"),
        "items": [_hotspot_json(spot, settings.timezone) for spot in found]})


def _hotspot_json(spot: hotspots.Hotspot, tz: str) -> dict[str, Any]:
    desk = {"category": spot.category, **({"grid": spot.grid_code} if spot.grid_code else {})}
    return {**hotspots.as_json(spot, tz), "desk_url": "/cases?" + urlencode(desk),
            "case_urls": {no: f"/cases/{no}" for no in spot.case_nos}}


# -- staff actions -----------------------------------------------------------------------
API_ACTIONS = [a.key for a in staff_actions.STAFF_ACTIONS.values()
               if staff_actions.API in a.channels]
ERROR_STATUS = ((NotFound, 404), (NotAllowed, 403), (IllegalTransition, 409),
                (InvalidInput, 422))


class ActionIn(BaseModel):
    action: str = Field(..., description=" | ".join(API_ACTIONS))
    note: str = Field("", max_length=2000, description="说明（{}时必填）".format("、".join(
        staff_actions.get(k).label for k in API_ACTIONS if staff_actions.get(k).note_required)))
    to_staff_id: int | None = Field(None, description="改派给的工作人员编号（reassign），"
                                    "或加签的工作人员编号（cosign）")
    handling_method: str | None = Field(None, description="处理方式（仅 resolve）：" + "、".join(
        f"{m.value} {label}" for m, label in methods.LABELS.items()))
    department_ids: list[int] = Field([], max_items=20,
                                      description="街道吹哨、转办的部门编号（仅 resolve）")
    photos_base64: list[str] = Field([], max_items=3, description="办结照片（JPEG/PNG，base64）；"
                                     "私搭乱建、乱堆乱放、环境卫生等类别办结时必填")
    reason_code: str | None = Field(None, max_length=32, description="退单原因（return）："
                                    "not_this_grid | not_our_duty | incomplete | duplicate | "
                                    "other（other 须填 note）")
    days: int | None = Field(None, description="延期天数 1–30（request_extension，原因写在 note）")
    grid_code: str | None = Field(None, max_length=32, description="加签的网格编码（cosign）")

    @validator("action")
    def _known(cls, value: str) -> str:
        if value not in API_ACTIONS:
            raise ValueError(f"没有「{value}」这个操作，可用：{'、'.join(API_ACTIONS)}")
        return value


class ActionOut(BaseModel):
    case_no: str
    action: str
    label: str
    changed: bool  # False: the same action had already been done (nothing recorded)
    state: CaseState


@router.post("/cases/{case_no}/actions", response_model=ActionOut,
             summary="办理工单：" + "、".join(staff_actions.get(k).label for k in API_ACTIONS),
             responses={401: {"description": "未登录或令牌无效"},
                        403: {"description": "无权办理"}, 404: {"description": "工单不存在或不在范围内"},
                        409: {"description": "当前状态不能进行此操作"}})
def api_act(case_no: str, body: ActionIn, request: Request, user: CurrentUser,
            scope: UserScope, unit: UnitDep):
    """The same checks as the console; a repeated action changes nothing (``changed: false``)."""
    extra, photos = {}, []
    if body.action == "resolve":
        settings = request.app.state.settings
        extra = {"handling_method": body.handling_method, "settings": settings,
                 "department_ids": tuple(body.department_ids)}
        photos = _saved_photos(case_no, body.photos_base64, user, unit, settings)
    try:
        changed = acting.run(unit, user, scope, case_no, body.action, body.note.strip(),
                             photos, to_staff_id=body.to_staff_id, days=body.days,
                             reason_code=body.reason_code, grid_code=body.grid_code, **extra)
        unit.commit()
    except DomainError as error:
        status = next((code for kind, code in ERROR_STATUS if isinstance(error, kind)), 409)
        raise HTTPException(status, str(error)) from None
    view = cases.get_case(unit, case_no)
    return {"case_no": view.case_no, "action": body.action,
            "label": staff_actions.get(body.action).label, "changed": changed,
            "state": view.state}


def _saved_photos(case_no: str, encoded: list[str], user, unit, settings) -> list[str]:
    """办结 photos sent as base64: checked like uploads, kept only for someone who may act."""
    if not encoded or not acting.may_act(unit, user, case_no):
        return []
    paths = []
    for item in encoded:
        try:
            data = base64.b64decode(item, validate=True)
            if len(data) > MAX_UPLOAD_BYTES:
                raise UploadError("照片太大。")
            paths.append(str(save_image(settings.photos_dir, data, "staff")))
        except (binascii.Error, ValueError, UploadError) as error:
            detail = str(error) if isinstance(error, UploadError) else "不是有效的 base64"
            raise HTTPException(422, f"办结照片无法使用：{detail}") from None
    return paths
