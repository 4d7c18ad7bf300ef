# ruff: noqa: B008  (FastAPI declares dependencies and form fields as call defaults)
"""The case desk: filtered list, case page (timeline, photos, map), staff actions, callbacks.

Every change goes through ``minsheng.services`` with the same permission check as the
Telegram staff buttons (``access.staff_may_act``), plus the console's grid scope.
"""
from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse

from minsheng.clock import utcnow
from minsheng.db import UnitOfWork
from minsheng.enums import OPEN_STATES, CaseState, Category, Channel, FeedbackRoute, Rating
from minsheng.errors import DomainError
from minsheng.lifecycle import TRANSITIONS
from minsheng.services import access
from minsheng.services import cases as case_service
from minsheng.users import UserView
from web import queries
from web.deps import OFFICE_ROLES, Scope, current_user, render, uow, user_scope
from web.uploads import MAX_UPLOAD_BYTES, UploadError, resolve_photo, save_image

router = APIRouter(prefix="/cases", include_in_schema=False)
MAX_NOTE = 2000
ACTION_LABELS = {"acknowledge": "签收", "progress": "进展", "resolve": "办结",
                 "escalate": "上报", "return": "退回"}
ACTOR_LABELS = {"resident": "居民", "staff": "工作人员", "system": "系统"}


def _back(case_no: str, message: str, kind: str = "ok") -> RedirectResponse:
    return RedirectResponse(f"/cases/{case_no}?{kind}={quote(message)}", status_code=303)


def _flashes(request: Request) -> list[dict]:
    return [{"kind": k, "text": request.query_params[k]} for k in ("ok", "error")
            if request.query_params.get(k)]


def _check_scope(unit: UnitOfWork, scope: Scope, case_no: str) -> None:
    exists, grid_id = queries.case_grid_id(unit.session, case_no)
    if not exists or not scope.allows(grid_id):  # out of scope looks exactly like missing
        raise HTTPException(404, "找不到该工单，或您无权查看")


def _case_or_404(unit: UnitOfWork, scope: Scope, case_no: str) -> case_service.CaseView:
    _check_scope(unit, scope, case_no)
    return case_service.get_case(unit, case_no)


def _enum_or_none(cls, value: str | None):
    try:
        return cls(value) if value else None
    except ValueError:
        return None


@router.get("")
def desk(request: Request, state: str | None = None, category: str | None = None,
         grid: str | None = None, channel: str | None = None, overdue: bool = False,
         q: str | None = None, page: int = 1, user: UserView = Depends(current_user),
         scope: Scope = Depends(user_scope), unit: UnitOfWork = Depends(uow)):
    flt = queries.CaseFilter(_enum_or_none(CaseState, state), _enum_or_none(Category, category),
                             (grid or "").strip() or None, _enum_or_none(Channel, channel),
                             overdue, q, max(page, 1))
    now = utcnow()
    rows, total = queries.list_cases(unit.session, scope, flt, now)
    pages = max(1, -(-total // queries.PAGE_SIZE))
    query = {k: v for k, v in request.query_params.items() if k != "page"}
    return render(request, "cases.html", rows=rows, total=total, flt=flt, page=flt.page,
                  pages=pages, query=query, now=now, is_overdue=queries.is_overdue,
                  states=list(CaseState), categories=list(Category), channels=list(Channel),
                  flashes=_flashes(request))


@router.get("/{case_no}")
def case_page(request: Request, case_no: str, user: UserView = Depends(current_user),
              scope: Scope = Depends(user_scope), unit: UnitOfWork = Depends(uow)):
    case = _case_or_404(unit, scope, case_no)
    may_act = bool(user.staff_id) and _may_act(unit, user, case.case_no)
    open_case = case.state in {s.value for s in OPEN_STATES}
    staff = queries.staff_in_scope(unit.session, scope) if (
        user.role in OFFICE_ROLES and open_case) else []
    actions = [a for a in ACTION_LABELS if may_act and CaseState(case.state) in TRANSITIONS[a].sources]
    return render(request, "case.html", case=case, may_act=may_act, staff=staff, actions=actions,
                  flashes=_flashes(request), actor_labels=ACTOR_LABELS, ratings=list(Rating),
                  can_callback=may_act and case.state == CaseState.resolved.value)


def _may_act(unit: UnitOfWork, user: UserView, case_no: str) -> bool:
    try:
        return bool(access.staff_may_act(unit, user.staff_id, case_no))
    except DomainError:
        return False


@router.get("/{case_no}/photos/{photo_id}")
def photo(case_no: str, photo_id: int, request: Request, scope: Scope = Depends(user_scope),
          unit: UnitOfWork = Depends(uow)):
    case = _case_or_404(unit, scope, case_no)
    row = next((p for p in case.photos if p.id == photo_id), None)
    path = resolve_photo(request.app.state.settings.photos_dir, row.path) if row else None
    if path is None:
        raise HTTPException(404, "照片不存在")
    return FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})


@router.post("/{case_no}/act/{action}")
async def act(request: Request, case_no: str, action: str, note: str = Form(""),
              photo: UploadFile | None = File(None), user: UserView = Depends(current_user),
              scope: Scope = Depends(user_scope), unit: UnitOfWork = Depends(uow)):
    if action not in ACTION_LABELS:
        raise HTTPException(404, "没有这个操作")
    _check_scope(unit, scope, case_no)
    if user.staff_id is None or not _may_act(unit, user, case_no):
        raise HTTPException(403, "您不能办理这张工单（不是承办人或不在您的网格）")
    note = note.strip()[:MAX_NOTE]
    if action in ("progress", "resolve", "return") and not note:
        return _back(case_no, f"请填写{ACTION_LABELS[action]}说明", "error")
    photos = []
    if photo is not None and photo.filename:
        try:
            data = await photo.read(MAX_UPLOAD_BYTES + 1)
            photos.append(str(save_image(request.app.state.settings.photos_dir, data, "staff")))
        except UploadError as error:
            return _back(case_no, str(error), "error")
    try:
        _run_action(unit, action, case_no, user.staff_id, note, photos)
        unit.commit()
    except DomainError as error:
        return _back(case_no, str(error), "error")
    return _back(case_no, f"已{ACTION_LABELS[action]}")


def _run_action(unit, action, case_no, staff_id, note, photos) -> None:
    if action == "acknowledge":
        case_service.acknowledge(unit, case_no, staff_id)
    elif action == "progress":
        case_service.add_progress(unit, case_no, staff_id, note, photos=photos)
    elif action == "resolve":
        case_service.resolve(unit, case_no, staff_id, note, photos=photos)
    elif action == "escalate":
        case_service.escalate(unit, case_no, staff_id, note or "网格员上报")
    else:
        case_service.return_case(unit, case_no, staff_id, note)


@router.post("/{case_no}/reassign")
def reassign(case_no: str, to_staff_id: int = Form(...), note: str = Form(""),
             user: UserView = Depends(current_user), scope: Scope = Depends(user_scope),
             unit: UnitOfWork = Depends(uow)):
    if user.role not in OFFICE_ROLES:
        raise HTTPException(403, "只有社区、街道和管理员可以改派")
    _check_scope(unit, scope, case_no)
    if to_staff_id not in {m.id for m in queries.staff_in_scope(unit.session, scope)}:
        return _back(case_no, "只能改派给您管辖范围内的工作人员", "error")
    try:
        case_service.reassign(unit, case_no, to_staff_id, by_staff_id=user.staff_id,
                              note=note.strip()[:MAX_NOTE] or None)
        unit.commit()
    except DomainError as error:
        return _back(case_no, str(error), "error")
    return _back(case_no, "已改派")


@router.post("/{case_no}/callback")
def callback(case_no: str, rating: Rating = Form(...), comment: str = Form(""),
             user: UserView = Depends(current_user), scope: Scope = Depends(user_scope),
             unit: UnitOfWork = Depends(uow)):
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
