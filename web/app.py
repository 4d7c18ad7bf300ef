"""The web application: console, resident chat and JSON API — ``create_app`` is the factory.

Run with ``uvicorn web.app:create_app --factory`` (``make run`` does it on :8000).
"""
from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware

from minsheng.clock import format_local
from minsheng.db import Database
from minsheng.enums import CATEGORY_LABELS, CHANNEL_LABELS, RATING_LABELS, STATE_LABELS
from minsheng.privacy import install_log_redaction
from minsheng.settings import Settings, load_settings
from nlu.evaluation import default_eval_sets
from nlu.learning import NLU_DIR
from web import (
    admin,
    api,
    auth,
    cases,
    channels,
    dashboard,
    hotspots,
    intake,
    model_server,
    nlu,
    sheet,
)
from web.csrf import FormCSRFMiddleware, csrf_token
from web.deps import LoginRequired, render
from web.middleware import AuditRefusals, SecurityHeaders
from web.uploads import MAX_UPLOAD_BYTES

HERE = Path(__file__).resolve().parent
# Browser libraries installed by `npm ci` (package-lock.json); served read-only from here.
VENDOR = {"echarts": HERE.parent / "node_modules" / "echarts" / "dist"}
STOCK_DETAILS = {"Not Found": "页面不存在", "Method Not Allowed": "不支持这种请求方式",
                 "There was an error parsing the body": "请求内容的格式不对，无法读取"}


def _templates(settings: Settings) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))

    def local(value: datetime | None, fmt: str = "full") -> str:
        return format_local(value, settings.timezone, fmt, empty="")

    def label(value, labels: dict) -> str:
        return labels.get(value, str(value) if value is not None else "")

    env = templates.env
    env.filters["local"] = local
    env.filters["category"] = lambda v: label(v, CATEGORY_LABELS)
    env.filters["channel"] = lambda v: label(v, CHANNEL_LABELS)
    env.filters["state"] = lambda v: label(v, STATE_LABELS)
    env.filters["rating"] = lambda v: label(v, RATING_LABELS)
    env.filters["pct"] = lambda v: "—" if v is None else f"{v * 100:.1f}%"
    env.globals["csrf_token"] = csrf_token
    env.globals["CATEGORY_LABELS"] = CATEGORY_LABELS
    env.globals["CHANNEL_LABELS"] = CHANNEL_LABELS
    env.globals["STATE_LABELS"] = STATE_LABELS
    env.globals["RATING_LABELS"] = RATING_LABELS
    return templates


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    # Our modules log through the root logger; give it a handler (a no-op when the server
    # or the tests set one up) so that the redacting filter sits on every way out.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    install_log_redaction("", "uvicorn", "uvicorn.error", "uvicorn.access")
    app = FastAPI(title="民生说事 API", version="1", docs_url="/docs", redoc_url=None,
                  openapi_url="/openapi.json")
    app.state.settings = settings
    app.state.db = Database(settings.database_url)
    app.state.templates = _templates(settings)
    app.state.training = None  # the NLU training job, when one runs (web.nlu_job)
    app.state.nlu_dir = NLU_DIR  # where relabelled examples are learned into
    app.state.eval_sets = default_eval_sets

    app.add_middleware(FormCSRFMiddleware, secret=settings.web_secret_key,
                       max_body=MAX_UPLOAD_BYTES + 256 * 1024, cookie_secure=settings.web_https)
    app.add_middleware(SessionMiddleware, secret_key=settings.web_secret_key,
                       session_cookie="minsheng_session", max_age=12 * 3600, same_site="lax",
                       https_only=settings.web_https)
    app.add_middleware(AuditRefusals, db=app.state.db)
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired):
        if request.url.path.startswith("/api/") or exc.bearer:
            detail = "API 令牌无效或已吊销" if exc.bearer else "请先登录或提供 API 令牌"
            challenge = 'Bearer error="invalid_token"' if exc.bearer else "Bearer"
            return JSONResponse({"detail": detail}, status_code=401,
                                headers={"WWW-Authenticate": challenge})
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        """Fields missing or of the wrong kind: one Chinese sentence, the details after."""
        return JSONResponse({"detail": "请求内容不完整或格式不对", "errors": jsonable_encoder(
            exc.errors())}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if request.url.path.startswith(("/api/", "/chat/")) or "json" in request.headers.get(
            "accept", ""
        ):
            return JSONResponse({"detail": STOCK_DETAILS.get(exc.detail, exc.detail)},
                                status_code=exc.status_code,
                                headers=getattr(exc, "headers", None))
        detail = STOCK_DETAILS.get(exc.detail, exc.detail)
        return render(request, "error.html", status_code=exc.status_code,
                      status=exc.status_code, detail=detail)

    for name, directory in VENDOR.items():
        # check_dir=False: without node_modules the app still starts; the charts 404.
        app.mount(f"/static/vendor/{name}", StaticFiles(directory=str(directory),
                                                        check_dir=False), name=f"vendor-{name}")
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for module in (auth, intake, cases, sheet, dashboard, hotspots, admin, nlu, model_server,
                   api):
        app.include_router(module.router)
    channels.install_all(app)  # the web chat, WeChat (web/channels.py)
    return app
