# ruff: noqa: B008  (FastAPI declares dependencies and form fields as call defaults)
"""Request-scoped dependencies: the unit of work, the logged-in user, role checks, rendering."""
from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends, HTTPException, Request
from fastapi.templating import Jinja2Templates

from minsheng.db import UnitOfWork
from minsheng.sessions import session_user_id
from minsheng.users import UserView, get_user, scope_grid_ids

OFFICE_ROLES = {"admin", "street", "community"}


class LoginRequired(Exception):
    """No valid session: pages redirect to /login, the API answers 401."""


def uow(request: Request) -> Iterator[UnitOfWork]:
    """One unit of work per request; it rolls back unless the handler commits."""
    with request.app.state.db.uow() as unit:
        yield unit


def current_user(request: Request, unit: UnitOfWork = Depends(uow)) -> UserView:
    user_id = session_user_id(unit, request.session.get("sid"))
    user = get_user(unit, user_id) if user_id is not None else None
    if user is None:
        request.session.pop("sid", None)
        raise LoginRequired()
    request.state.user = user
    return user


def office_user(user: UserView = Depends(current_user)) -> UserView:
    if user.role not in OFFICE_ROLES:
        raise HTTPException(403, "只有管理员、街道和社区账号可以使用此功能")
    return user


def admin_user(user: UserView = Depends(current_user)) -> UserView:
    if user.role != "admin":
        raise HTTPException(403, "只有管理员可以使用此功能")
    return user


class Scope:
    """The grid nodes a user may see (None = all)."""

    def __init__(self, grid_ids: set[int] | None):
        self.grid_ids = grid_ids

    def allows(self, grid_id: int | None) -> bool:
        return self.grid_ids is None or grid_id in self.grid_ids


def user_scope(user: UserView = Depends(current_user), unit: UnitOfWork = Depends(uow)) -> Scope:
    return Scope(scope_grid_ids(unit, user))


def templates(request: Request) -> Jinja2Templates:
    return request.app.state.templates


def render(request: Request, name: str, status_code: int = 200, **context):
    context.setdefault("user", getattr(request.state, "user", None))
    return request.app.state.templates.TemplateResponse(
        request, name, context, status_code=status_code
    )
