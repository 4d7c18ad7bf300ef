# ruff: noqa: B008  (FastAPI declares dependencies and form fields as call defaults)
"""Request-scoped dependencies: the unit of work, the logged-in user, role checks, rendering.

A user is the console session's login, or — when the request carries
``Authorization: Bearer <token>`` — the login that API token acts as (``minsheng token``).
A request with a bearer token is judged by the token alone, never by its cookies, which
is what lets the CSRF middleware pass bearer-token API calls (web/csrf.py).
New code takes the aliases at the end (``unit: UnitDep, user: CurrentUser``).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.templating import Jinja2Templates

from minsheng.api_tokens import user_for_token
from minsheng.db import UnitOfWork
from minsheng.services import cosign
from minsheng.sessions import session_user_id
from minsheng.users import UserView, get_user, scope_grid_ids

OFFICE_ROLES = {"admin", "street", "community"}


class LoginRequired(Exception):
    """No valid session or token: pages redirect to /login, the API answers 401."""

    def __init__(self, bearer: bool = False):
        super().__init__()
        self.bearer = bearer  # a token was presented and refused


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer …`` header ("" if empty); None without one."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def uow(request: Request) -> Iterator[UnitOfWork]:
    """One unit of work per request; it rolls back unless the handler commits."""
    with request.app.state.db.uow() as unit:
        yield unit


def current_user(request: Request, unit: UnitOfWork = Depends(uow)) -> UserView:
    token = bearer_token(request)
    if token is not None:
        user = user_for_token(unit, token)
        if user is None:
            raise LoginRequired(bearer=True)
        request.state.user = user
        return user
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
    """The grid nodes a user may see (None = all), and cases outside them that a grid of
    theirs or they themselves co-handle (加签)."""

    def __init__(self, grid_ids: set[int] | None, case_ids=frozenset()):
        self.grid_ids = grid_ids
        self.case_ids = set(case_ids)

    def allows(self, grid_id: int | None) -> bool:
        return self.grid_ids is None or grid_id in self.grid_ids


def user_scope(user: UserView = Depends(current_user), unit: UnitOfWork = Depends(uow)) -> Scope:
    grid_ids = scope_grid_ids(unit, user)
    if grid_ids is None:
        return Scope(None)
    return Scope(grid_ids, cosign.case_ids_for_scope(unit.session, grid_ids, user.staff_id))


def templates(request: Request) -> Jinja2Templates:
    return request.app.state.templates


def render(request: Request, name: str, status_code: int = 200, **context):
    context.setdefault("user", getattr(request.state, "user", None))
    return request.app.state.templates.TemplateResponse(
        request, name, context, status_code=status_code
    )


UnitDep = Annotated[UnitOfWork, Depends(uow)]
CurrentUser = Annotated[UserView, Depends(current_user)]
OfficeUser = Annotated[UserView, Depends(office_user)]
AdminUser = Annotated[UserView, Depends(admin_user)]
UserScope = Annotated[Scope, Depends(user_scope)]
