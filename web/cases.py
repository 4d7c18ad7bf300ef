"""The case desk: filtered list, case page (timeline, photos, map), staff actions, callbacks.

The staff actions offered and run here come from the one table
(``minsheng.staff_actions``) through ``web.acting``, with the same permission check as the
Telegram buttons and the JSON API, plus the console's grid scope.
"""
from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse

from minsheng import staff_actions
from minsheng.clock import utcnow
from minsheng.db import UnitOfWork
from minsheng.enums import (
    HANDLING_LABELS,
    CaseState,
    Category,
    Channel,
    FeedbackRoute,
    Handling,
    Rating,
)
from minsheng.errors import DomainError
from minsheng.services import cases as case_service
from minsheng.services import contact, methods
from web import acting, queries
from web.deps import CurrentUser, Scope, UnitDep, UserScope, render
from web.uploads import MAX_UPLOAD_BYTES, UploadError, resolve_photo, save_image

router = APIRouter(prefix="/cases", include_in_schema=False)
MAX_NOTE = 2000
ACTOR_LABELS = {"resident": "居民", "staff": "工作人员", "system": "系统"}
# The next step of a handler, shown open on the case page; every other action the table
# offers is folded under 更多操作 (签收 leads until it is done, then 办结).
PRIMARY_ACTIONS = ("acknowledge", "resolve")


def _back(case_no: str, message: str, kind: str = "ok") -> RedirectResponse:
    return RedirectResponse(f"/cases/{case_no}?{kind}={quote(message)}", status_code=303)


def _flashes(request: Request) -> list[dict]:
    return [{"kind": k, "text": request.query_params[k]} for k in ("ok", "error")
            if request.query_params.get(k)]


_check_scope = acting.check_scope


def _case_or_404(unit: UnitOfWork, scope: Scope, case_no: str) -> case_service.CaseView:
    _check_scope(unit, scope, case_no)
    return case_service.get_case(unit, case_no)


def _enum_or_none(cls, value: str | None):
    try:
        return cls(value) if value else None
    except ValueError:
        return None


def _default_view(user) -> str:
    """A grid worker lands on 待办; offices, who oversee rather than handle, on 全部."""
    return "todo" if user.role == "grid" and user.staff_id is not None else "all"


def _date_or_none(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("")
def desk(request: Request, user: CurrentUser, scope: UserScope, unit: UnitDep,
         state: str | None = None, category: str | None = None, grid: str | None = None,
         channel: str | None = None, overdue: bool = False, q: str | None = None,
         page: int = 1, view: str | None = None, handling: str | None = None,
         date_from: Annotated[str | None, Query(alias="from")] = None,
         date_to: Annotated[str | None, Query(alias="to")] = None):
    view = view if view in queries.VIEWS else _default_view(user)
    if view == "todo" and user.staff_id is None:
        view = "open"  # a login without a staff member has nothing of its own to do
    grids = queries.grids_in_scope(unit.session, scope)
    flt = queries.CaseFilter(_enum_or_none(CaseState, state), _enum_or_none(Category, category),
                             queries.grid_code_for(grids, grid), _enum_or_none(Channel, channel),
                             overdue, q, max(page, 1), view, user.staff_id,
                             date_from=_date_or_none(date_from), date_to=_date_or_none(date_to),
                             handling=_enum_or_none(Handling, handling),
                             tz=request.app.state.settings.timezone)
    now = utcnow()
    rows, total = queries.list_cases(unit.session, scope, flt, now)
    pages = max(1, -(-total // queries.PAGE_SIZE))
    query = {k: v for k, v in request.query_params.items() if k != "page"}
    filters = {k: v for k, v in query.items() if k != "view"}
    return render(request, "cases.html", rows=rows, total=total, flt=flt, page=flt.page,
                  pages=pages, query=query, filters=filters, now=now,
                  is_overdue=queries.is_overdue, views=_tabs(user), grids=grids,
                  grid_text=(grid or "").strip(),
                  states=list(CaseState), categories=list(Category), channels=list(Channel),
                  flashes=_flashes(request),
                  handling_label=HANDLING_LABELS.get(flt.handling) if flt.handling else None)


def _tabs(user) -> dict[str, str]:
    return {k: v for k, v in queries.VIEWS.items() if k != "todo" or user.staff_id is not None}


@router.get("/{case_no}")
def case_page(request: Request, case_no: str, user: CurrentUser, scope: UserScope,
              unit: UnitDep):
    return _case_response(request, case_no, user, scope, unit)


def _case_response(request: Request, case_no: str, user, scope: Scope, unit: UnitOfWork,
                   full_phone: str | None = None):
    case = _case_or_404(unit, scope, case_no)
    may_act = acting.may_act(unit, user, case.case_no)
    offered = acting.offered(unit, user, case.case_no, case.state, staff_actions.CONSOLE)
    targeted = [a for a in offered if a.needs_target]  # 改派: a form with a staff list
    staff = queries.staff_in_scope(unit.session, scope) if targeted else []
    return render(request, "case.html", case=case, may_act=may_act, staff=staff,
                  actions=[a for a in offered if not a.needs_target],
                  targeted=targeted if staff else [], primary_keys=PRIMARY_ACTIONS,
                  flashes=_flashes(request), actor_labels=ACTOR_LABELS, ratings=list(Rating),
                  can_callback=case_service.may_record_callback(unit, case.case_no,
                                                                user.staff_id),
                  handling_methods=methods.LABELS,
                  departments=methods.active_departments(unit.session),
                  photo_required=case.category in {
                      str(c) for c in request.app.state.settings.resolve_photo_categories},
                  can_reveal_phone=bool(case.phone) and user.staff_id is not None
                  and user.staff_id == case.assignee_id
                  and case.state in {s.value for s in contact.REVEALED_IN},
                  full_phone=full_phone)


@router.post("/{case_no}/phone")
def reveal_phone(request: Request, case_no: str, user: CurrentUser, scope: UserScope,
                 unit: UnitDep):
    """The handler's call-back number: shown once on this page, each view in the timeline."""
    _check_scope(unit, scope, case_no)
    if user.staff_id is None:
        raise HTTPException(403, "只有当前承办人可以查看居民的完整电话")
    try:
        phone = contact.reveal_phone(unit, case_no, user.staff_id, utcnow())
    except DomainError as error:
        return _back(case_no, str(error), "error")
    unit.commit()
    response = _case_response(request, case_no, user, scope, unit, full_phone=phone)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/{case_no}/photos/{photo_id}")
def photo(case_no: str, photo_id: int, request: Request, scope: UserScope, unit: UnitDep):
    case = _case_or_404(unit, scope, case_no)
    row = next((p for p in case.photos if p.id == photo_id), None)
    path = resolve_photo(request.app.state.settings.photos_dir, row.path) if row else None
    if path is None:
        raise HTTPException(404, "照片不存在")
    return FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})


@router.post("/{case_no}/act/{action}")
async def act(request: Request, case_no: str, action: str, user: CurrentUser,
              scope: UserScope, unit: UnitDep, note: Annotated[str, Form()] = "",
              photo: Annotated[UploadFile | None, File()] = None,
              to_staff_id: Annotated[int | None, Form()] = None,
              days: Annotated[str, Form()] = "", reason_code: Annotated[str, Form()] = "",
              grid_code: Annotated[str, Form()] = "",
              cosign_staff_id: Annotated[str, Form()] = "",
              handling_method: Annotated[str, Form()] = "",
              department_ids: Annotated[list[int], Form()] = []):  # noqa: B006
    """Any action of the table the console offers (改派 also at ``/reassign``)."""
    row = staff_actions.STAFF_ACTIONS.get(action)
    if row is None or staff_actions.CONSOLE not in row.channels:
        raise HTTPException(404, "没有这个操作")
    _check_scope(unit, scope, case_no)
    photos = []
    if row.photos and photo is not None and photo.filename:
        if not row.for_relation(acting.relation(unit, user, case_no)):  # no file kept
            # for a refused action (a co-handler may add photos to a progress note only)
            raise HTTPException(403, "您不能办理这张工单（不是承办人或不在您的网格）")
        try:
            data = await photo.read(MAX_UPLOAD_BYTES + 1)
            photos.append(str(save_image(request.app.state.settings.photos_dir, data, "staff")))
        except UploadError as error:
            return _back(case_no, str(error), "error")
    try:
        if cosign_staff_id.strip():  # 加签 a staff member
            if not cosign_staff_id.strip().isdigit():
                return _back(case_no, "工作人员编号应为数字。", "error")
            to_staff_id = int(cosign_staff_id.strip())
        extra = {} if action != "resolve" else {
            "handling_method": handling_method or None, "department_ids": tuple(department_ids),
            "settings": request.app.state.settings}
        acting.run(unit, user, scope, case_no, action, note.strip()[:MAX_NOTE], photos,
                   to_staff_id, days=days.strip()[:8] or None,
                   reason_code=reason_code.strip()[:32] or None,
                   grid_code=grid_code.strip()[:32] or None, **extra)
        unit.commit()
    except DomainError as error:
        return _back(case_no, str(error), "error")
    return _back(case_no, f"已{row.label}")


@router.post("/{case_no}/reassign")
async def reassign(request: Request, case_no: str, to_staff_id: Annotated[int, Form()],
                   user: CurrentUser, scope: UserScope, unit: UnitDep,
                   note: Annotated[str, Form()] = ""):
    return await act(request, case_no, "reassign", user, scope, unit, note, None, to_staff_id)


@router.post("/{case_no}/callback")
def callback(case_no: str, rating: Annotated[Rating, Form()], user: CurrentUser,
             scope: UserScope, unit: UnitDep, comment: Annotated[str, Form()] = ""):
    """Record an offline callback (phone or visit) with the resident's rating."""
    _check_scope(unit, scope, case_no)
    if user.staff_id is None:
        raise HTTPException(403, "此账号未关联工作人员，不能登记回访")
    try:
        case_service.rate(unit, case_no, rating, comment=comment.strip()[:MAX_NOTE] or None,
                          route=FeedbackRoute.offline, staff_id=user.staff_id)
        unit.commit()
    except DomainError as error:
        return _back(case_no, str(error), "error")
    return _back(case_no, "已登记回访评价")
