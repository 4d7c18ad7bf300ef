# ruff: noqa: B008  (FastAPI declares dependencies and form fields as call defaults)
"""Login and logout; the landing page."""
from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from minsheng.db import UnitOfWork
from minsheng.users import authenticate, get_user
from web.deps import render, uow

router = APIRouter(include_in_schema=False)
MAX_FAILURES = 5
LOCK_SECONDS = 300


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/cases"


def _failures(request: Request) -> dict[str, list[float]]:
    store = getattr(request.app.state, "login_failures", None)
    if store is None:
        store = request.app.state.login_failures = {}
    return store


def _locked(request: Request, username: str) -> bool:
    now = time.monotonic()
    recent = [t for t in _failures(request).get(username, []) if now - t < LOCK_SECONDS]
    _failures(request)[username] = recent
    return len(recent) >= MAX_FAILURES


@router.get("/")
def home(request: Request, unit: UnitOfWork = Depends(uow)):
    uid = request.session.get("uid")
    user = get_user(unit, uid) if isinstance(uid, int) else None
    return render(request, "home.html", user=user)


@router.get("/login")
def login_form(request: Request, next: str | None = None):
    return render(request, "login.html", next=_safe_next(next), error=None, username="")


@router.post("/login")
def login(request: Request, username: str = Form(""), password: str = Form(""),
          next: str = Form("/cases"), unit: UnitOfWork = Depends(uow)):
    username = username.strip()
    if _locked(request, username):
        return render(request, "login.html", status_code=429, next=_safe_next(next),
                      username=username, error="登录失败次数过多，请 5 分钟后再试")
    user = authenticate(unit, username, password)
    if user is None:
        _failures(request).setdefault(username, []).append(time.monotonic())
        return render(request, "login.html", status_code=401, next=_safe_next(next),
                      username=username, error="用户名或密码错误")
    _failures(request).pop(username, None)
    chat_sid = request.session.get("chat_sid")
    request.session.clear()
    if chat_sid:
        request.session["chat_sid"] = chat_sid
    request.session["uid"] = user.id
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request):
    request.session.pop("uid", None)
    return RedirectResponse("/login", status_code=303)
