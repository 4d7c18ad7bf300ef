"""The resident web chat (/chat): the same Rasa conversation as Telegram, as a channel on
the messaging core (``bot.webchat``): messages stored first, replies and notices in the
outbox, the page pulls what it has not drawn yet.

A resident is known by a long-lived signed cookie naming their web-chat id, so a reload
(or a browser restart) redraws the same conversation. Residents can never force an
intent: typed text starting with "/" is neutralised, and a payload is only accepted if
it was offered to this very resident in a message (a reply or a notice).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    File,
    HTTPException,
    Query,
    Request,
    Response,
    UploadFile,
)
from fastapi.responses import FileResponse, StreamingResponse
from itsdangerous import BadSignature, Signer
from pydantic import BaseModel, confloat, constr

from bot.core.outbox import OutboxSender
from bot.core.rasa import RasaClient, clean, intent_message, neutralise
from bot.webchat.channel import WebChat
from bot.webchat.store import PHOTOS_URL, ChatMessage
from minsheng.throttle import Counter
from web.deps import render
from web.lifespan import around, background
from web.uploads import MAX_UPLOAD_BYTES, UploadError, resolve_photo, save_image

router = APIRouter(prefix="/chat", include_in_schema=False)
MAX_TEXT = 1000
RESIDENT_COOKIE = "minsheng_resident"
ONE_YEAR = 365 * 24 * 3600
BUTTON_EXPIRED = "这个按钮已失效，请直接输入文字或重新选择。"
CASE_NO = re.compile(r"^MS-\d{8}-\d{4}$")
REJOIN_FAILED = "工单号或手机号后四位不对，请核对后再试。"
REJOIN_BLOCKED = "尝试次数太多，请 15 分钟后再试，或拨打社区电话。"
SENDER_INTERVAL = 0.5  # seconds between looks for rating requests (a notice within 2 s)


class ChatIn(BaseModel):
    text: str | None = None
    payload: str | None = None


class LocationIn(BaseModel):
    lat: confloat(ge=-90, le=90)  # type: ignore[valid-type]
    lon: confloat(ge=-180, le=180)  # type: ignore[valid-type]


class RejoinIn(BaseModel):
    case_no: constr(strip_whitespace=True, max_length=40)  # type: ignore[valid-type]
    phone_tail: constr(strip_whitespace=True, max_length=8)  # type: ignore[valid-type]


# (limit, window in seconds) per kind of request and key: a resident typing fast stays far
# below these; a script does not. Counted in minsheng.throttle (Redis when configured).
LIMITS = {
    "message-resident": (30, 60), "message-address": (120, 60),
    "photo-resident": (20, 3600), "photo-address": (60, 3600),
    "rejoin-address": (5, 900), "rejoin-case": (5, 900),
}
TOO_FAST = "您发送得太频繁了，请稍等一分钟再发（刚才这条没有收到，可以稍后再发一次）。"


def _counter(request: Request, kind: str) -> Counter:
    counters = getattr(request.app.state, "chat_counters", None)
    if counters is None:
        url = request.app.state.settings.shared_state_url
        counters = request.app.state.chat_counters = {
            name: Counter(url, f"chat-{name}", window) for name, (_, window) in LIMITS.items()}
    return counters[kind]


def _address(request: Request) -> str:
    return request.client.host if request.client else "-"


def at_limit(request: Request, keys: dict[str, str]) -> bool:
    """Whether any ``kind: key`` has reached its limit."""
    return any(_counter(request, kind).count(key) >= LIMITS[kind][0]
               for kind, key in keys.items())


def count(request: Request, keys: dict[str, str]) -> None:
    for kind, key in keys.items():
        _counter(request, kind).hit(key)


def throttled(request: Request, keys: dict[str, str]) -> bool:
    """Refuse (True) at the limit; otherwise count this request and let it through."""
    if at_limit(request, keys):
        return True
    count(request, keys)
    return False


@dataclass(frozen=True)
class SseSettings:
    tick: float = 1.0  # seconds between looks at the outbox
    lifetime: float = 300.0  # then the browser reconnects (no stream lives for ever)
    retry_ms: int = 1500


SSE = SseSettings()


def _signer(request: Request) -> Signer:
    return Signer(request.app.state.settings.web_secret_key, salt="minsheng.web-resident")


def remember(request: Request, response: Response, external_id: str) -> None:
    """Name this browser's resident in a signed, HttpOnly cookie for a year."""
    value = _signer(request).sign(external_id.encode()).decode()
    response.set_cookie(RESIDENT_COOKIE, value, max_age=ONE_YEAR, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")


async def web_resident(request: Request, response: Response) -> str:
    """The stable web-chat id of this browser's resident; a new one (and its cookie) if
    there is none. A conversation from before the cookie (the session's id) is kept.
    ``async`` though it never waits: FastAPI runs a plain ``def`` dependency in a worker
    thread, a hop per request for a cookie check."""
    raw = request.cookies.get(RESIDENT_COOKIE)
    if raw:
        try:
            return _signer(request).unsign(raw).decode()
        except BadSignature:
            pass
    external_id = request.session.get("chat_sid") or secrets.token_urlsafe(16)
    remember(request, response, external_id)
    request.state.new_resident = external_id
    return external_id


WebResident = Annotated[str, Depends(web_resident)]


def install(app: FastAPI) -> None:
    """Mount ``/chat`` and its channel; while the app serves, the channel's sweep answers
    what waits for residents whose page is closed, and the core outbox sender starts the
    rating dialogue a ``rating_request`` asks for (its messages then wait for the page)."""
    app.state.webchat = WebChat(app.state.settings, app.state.db)
    app.include_router(router)
    around(app, _running)


@contextlib.asynccontextmanager
async def _running(app: FastAPI):
    chat: WebChat = app.state.webchat
    settings = app.state.settings
    rasa = RasaClient(settings.rasa_url, settings.rasa_token, chat.rasa_timeout)
    app.state.webchat_sender = sender = OutboxSender(app.state.db, [chat], batch=20,
                                                     interval=SENDER_INTERVAL)
    try:
        with chat.serving(rasa):
            async with background(**{"webchat-sweep": chat.sweep_forever(),
                                     "webchat-outbox": sender.run_forever()}):
                yield
    finally:
        await rasa.close()
        await chat.close()


async def webchat(request: Request) -> WebChat:  # async: no worker thread (web_resident)
    return request.app.state.webchat


Chat = Annotated[WebChat, Depends(webchat)]


def _out(messages: list[ChatMessage]) -> dict:
    return {"messages": [m.as_json() for m in messages]}


@router.get("")
def chat_page(request: Request, resident: WebResident):
    page = render(request, "chat.html", max_upload_mb=MAX_UPLOAD_BYTES // (1024 * 1024))
    if getattr(request.state, "new_resident", None):
        remember(request, page, resident)
    return page


@router.get("/history")
async def chat_history(chat: Chat, resident: WebResident):
    """The conversation so far (the resident's and the bot's messages) and the live offer."""
    messages, offered = await chat.history(resident)
    bot_ids = [m.id for m in messages if not m.mine]
    return {"messages": [{**m.as_json(), "from": "me" if m.mine else "bot"} for m in messages],
            "offered": offered, "last": max(bot_ids, default=0)}


@router.get("/messages")
async def chat_messages(chat: Chat, resident: WebResident, after: int = Query(0, ge=0)):
    """Every bot message after ``after`` (replies and notices); marks them delivered."""
    return _out(await chat.messages(resident, after))


@router.get("/events")
async def chat_events(request: Request, chat: Chat, resident: WebResident,
                      after: int = Query(0, ge=0)):
    """The same messages pushed as Server-Sent Events (checked every second); the stream
    ends after a while and the browser reconnects from the last id it saw."""
    last = max(after, _int(request.headers.get("last-event-id")))
    settings = getattr(request.app.state, "sse", SSE)
    return StreamingResponse(_events(request, chat, resident, last, settings),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _events(request: Request, chat: WebChat, resident: str, last: int,
                  sse: SseSettings) -> AsyncIterator[str]:
    yield f"retry: {sse.retry_ms}\n\n"
    deadline = time.monotonic() + sse.lifetime
    while time.monotonic() < deadline and not await request.is_disconnected():
        for message in await chat.messages(resident, last):
            last = max(last, message.id)
            data = json.dumps(message.as_json(), ensure_ascii=False)
            yield f"id: {message.id}\ndata: {data}\n\n"
        await asyncio.sleep(sse.tick)


def _int(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0


def _check_rate(request: Request, resident: str, kind: str = "message") -> None:
    if throttled(request, {f"{kind}-resident": resident, f"{kind}-address": _address(request)}):
        raise HTTPException(429, TOO_FAST)


@router.post("/send")
async def chat_send(request: Request, chat: Chat, resident: WebResident, body: ChatIn):
    _check_rate(request, resident)
    if body.payload is not None:
        replies = await chat.press(resident, body.payload)
        if replies is None:
            raise HTTPException(400, BUTTON_EXPIRED)
        return _out(replies)
    text = clean(body.text or "")
    if not text:
        raise HTTPException(400, "请先输入内容")
    if len(text) > MAX_TEXT:
        raise HTTPException(400, f"内容太长了（最多 {MAX_TEXT} 字），请分几条发送")
    return _out(await chat.send(resident, neutralise(text), text))


@router.post("/photo")
async def chat_photo(request: Request, chat: Chat, resident: WebResident,
                     photo: Annotated[UploadFile, File()]):
    """A photo (随手拍): checked, stored under photos_dir, passed to Rasa as /send_photo.

    It may arrive in the middle of a question (e.g. at the confirm step), so a reply
    without buttons keeps the buttons on offer."""
    _check_rate(request, resident, "photo")
    data = await photo.read(MAX_UPLOAD_BYTES + 1)
    try:
        path = save_image(request.app.state.settings.photos_dir, data, "web")
    except UploadError as exc:
        raise HTTPException(400, str(exc)) from None
    message = "/send_photo" + json.dumps({"photo": str(path)}, ensure_ascii=False)
    return _out(await chat.send(resident, message, "［照片］", keep_offers=True,
                                extra={"photo": str(path)}))


@router.get(PHOTOS_URL.removeprefix(router.prefix) + "{name}")
async def chat_case_photo(request: Request, chat: Chat, resident: WebResident, name: str):
    """A photo of a case this browser's resident reported or follows (the 办结 photos the
    rating question shows, ``bot.webchat.store.page_image``); anyone else gets 404, as if
    there were no such photo."""
    resident_id = await asyncio.to_thread(chat.store.resident_id, resident)
    stored = (await asyncio.to_thread(chat.store.own_photo, resident_id, name)
              if resident_id is not None else None)
    path = resolve_photo(request.app.state.settings.photos_dir, stored) if stored else None
    if path is None:
        raise HTTPException(404, "照片不存在")
    return FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})


@router.post("/location")
async def chat_location(request: Request, chat: Chat, resident: WebResident, body: LocationIn):
    """The browser's position (定位): the server makes ``/share_location``, never the page."""
    _check_rate(request, resident)
    message = intent_message("share_location", lat=round(body.lat, 6), lon=round(body.lon, 6))
    return _out(await chat.send(resident, message, "［位置］", extra={"lat": body.lat,
                                                                    "lon": body.lon}))


@router.post("/rejoin")
async def chat_rejoin(request: Request, response: Response, chat: Chat, body: RejoinIn):
    """On a new device: case number + the last four digits of the phone given with it
    rejoin that case's conversation (five failures per address or case per 15 min)."""
    case_no = body.case_no.upper()
    keys = {"rejoin-address": _address(request), "rejoin-case": case_no}
    if at_limit(request, keys):
        raise HTTPException(429, REJOIN_BLOCKED)
    found = None
    if CASE_NO.match(case_no) and re.fullmatch(r"\d{4}", body.phone_tail):
        found = await asyncio.to_thread(chat.store.rejoin, case_no, body.phone_tail)
    if found is None:
        count(request, keys)  # only failures count
        raise HTTPException(400, REJOIN_FAILED)
    remember(request, response, found)
    return {"ok": True, "case_no": case_no}
