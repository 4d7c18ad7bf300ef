# ruff: noqa: B008  (FastAPI declares dependencies and form fields as call defaults)
"""Login and logout; the landing page."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from minsheng import audit
from minsheng.db import UnitOfWork
from minsheng.sessions import open_session, revoke, session_user_id
from minsheng.throttle import Counter
from minsheng.users import authenticate, get_user
from web.csrf import SESSION_KEY
from web.deps import render, uow

router = APIRouter(include_in_schema=False)
# Failures counted per (username, address): guessing from elsewhere never locks the
# rightful user out at their own address. Failures per address, whatever the username,
# stop password spraying across accounts.
PAIR_LIMIT, PAIR_WINDOW = 5, 300
ADDRESS_LIMIT, ADDRESS_WINDOW = 20, 900
TOO_MANY = "登录失败次数过多，请 5 分钟后再试"


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/cases"


def _counters(request: Request) -> tuple[Counter, Counter]:
    state = request.app.state
    if getattr(state, "login_counters", None) is None:
        url = state.settings.shared_state_url
        state.login_counters = (Counter(url, "login-pair", PAIR_WINDOW),
                                Counter(url, "login-address", ADDRESS_WINDOW))
    return state.login_counters


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/")
def home(request: Request, unit: UnitOfWork = Depends(uow)):
    uid = session_user_id(unit, request.session.get("sid"))
    user = get_user(unit, uid) if uid is not None else None
    return render(request, "home.html", user=user)


@router.get("/login")
def login_form(request: Request, next: str | None = None):
    return render(request, "login.html", next=_safe_next(next), error=None, username="")


@router.post("/login")
def login(request: Request, username: str = Form(""), password: str = Form(""),
          next: str = Form("/cases"), unit: UnitOfWork = Depends(uow)):
    username = username.strip()
    pairs, addresses = _counters(request)
    address = _address(request)
    pair = f"{username}|{address}"
    if pairs.count(pair) >= PAIR_LIMIT or addresses.count(address) >= ADDRESS_LIMIT:
        audit.record(unit, "login_throttled", target=username, address=address)
        unit.commit()
        return render(request, "login.html", status_code=429, next=_safe_next(next),
                      username=username, error=TOO_MANY)
    user = authenticate(unit, username, password)
    if user is None:
        pairs.hit(pair)
        addresses.hit(address)
        audit.record(unit, "login_failed", target=username, address=address)
        unit.commit()
        return render(request, "login.html", status_code=401, next=_safe_next(next),
                      username=username, error="用户名或密码错误")
    token = open_session(unit, user.id, address)
    audit.record(unit, "login", actor=f"user:{user.id}", address=address)
    unit.commit()  # the session, and a password hash upgraded at this login
    pairs.clear(pair)
    kept = {k: request.session[k] for k in ("chat_sid", SESSION_KEY) if k in request.session}
    request.session.clear()  # nothing from before the login rides along, but these
    request.session.update(kept)
    request.session["sid"] = token
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, unit: UnitOfWork = Depends(uow)):
    """Ends the session on the server too: a copy of the cookie opens nothing after this."""
    revoke(unit, request.session.pop("sid", None))
    unit.commit()
    return RedirectResponse("/login", status_code=303)
