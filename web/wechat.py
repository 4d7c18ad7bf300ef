"""``GET|POST /wechat``: the WeChat Official Account's server URL (bot/wechat does the work).

GET answers WeChat's ``echostr`` when the signature is ours; POST carries a resident's
message, in plaintext or, with ``MINSHENG_WECHAT_ENCODING_AES_KEY``, encrypted (safe mode,
bot/wechat/envelope.py). A bad signature or msg_signature gets 403 and nothing is read or
stored. Off (404) while ``MINSHENG_WECHAT_TOKEN`` is unset. ``install(app)`` is the one registration line.
"""
from __future__ import annotations

import contextlib
import logging

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.background import BackgroundTask

from bot.core.outbox import OutboxSender
from bot.core.rasa import RasaClient
from bot.wechat import envelope
from bot.wechat.api import WeChatApi
from bot.wechat.channel import WeChatChannel
from bot.wechat.envelope import Refused
from bot.wechat.protocol import MAX_BODY_BYTES, BadMessage
from web.lifespan import around, background

log = logging.getLogger(__name__)
router = APIRouter(prefix="/wechat", include_in_schema=False)


def _channel(request: Request) -> WeChatChannel:
    channel = getattr(request.app.state, "wechat", None)
    if channel is None:
        raise HTTPException(404, "Not Found")
    return channel


@router.get("")
async def verify_server(request: Request, signature: str = "", timestamp: str = "",
                        nonce: str = "", echostr: str = ""):
    """WeChat checks the server URL: echo ``echostr`` back if the signature is valid."""
    if not _channel(request).verify(signature, timestamp, nonce):
        return PlainTextResponse("invalid signature", status_code=403)
    return PlainTextResponse(echostr)


@router.post("")
async def receive(request: Request, signature: str = "", timestamp: str = "",
                  nonce: str = "", encrypt_type: str = "", msg_signature: str = ""):
    """A resident's message: answered with a passive XML reply, or "success" (none)."""
    channel = _channel(request)
    if not channel.verify(signature, timestamp, nonce):
        return PlainTextResponse("invalid signature", status_code=403)
    body = await _body(request)
    if body is None:
        return PlainTextResponse("too large", status_code=413)
    wrapping = request.app.state.wechat_envelope
    try:
        body = wrapping.open(body, encrypt_type, msg_signature, timestamp, nonce)
        reply, rows = await channel.handle(body)
    except Refused as error:
        log.warning("WeChat message refused: %s", error)
        return PlainTextResponse("invalid signature", status_code=403)
    except BadMessage as error:
        log.warning("unreadable WeChat message: %s", error)
        return PlainTextResponse("bad message", status_code=400)
    if not reply:
        return PlainTextResponse("success")
    reply = wrapping.seal(reply, nonce)
    # The reply's outbox row is sent once the response has gone; if it never goes, the
    # outbox sender delivers the row by the API when its lease runs out.
    return Response(reply, media_type="application/xml",
                    background=BackgroundTask(channel.passive_sent, rows))


async def _body(request: Request) -> bytes | None:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def install(app: FastAPI) -> None:
    """Mount ``/wechat``; when WeChat is configured, run its channel, the core outbox
    sender for the ``wechat`` rows (notices and late replies) and the retry of messages
    Rasa could not take. The sender runs here, next to the endpoint, so that both share
    one access token: every ``/cgi-bin/token`` call makes the previous one expire."""
    app.include_router(router)
    app.state.wechat = None
    around(app, _running)


@contextlib.asynccontextmanager
async def _running(app: FastAPI):
    settings = app.state.settings
    if not settings.wechat_enabled:
        yield
        return
    api = WeChatApi(settings.wechat_api_base, settings.wechat_app_id,
                    settings.wechat_app_secret)
    channel = WeChatChannel(settings, app.state.db, api,
                            RasaClient(settings.rasa_url, settings.rasa_token))
    # A few residents at a time: WeChat limits calls per account, not per resident.
    sender = OutboxSender(app.state.db, [channel], batch=20, interval=2.0, parallel=4)
    app.state.wechat_envelope = envelope.for_settings(settings)
    app.state.wechat, app.state.wechat_sender = channel, sender
    log.info("WeChat channel on at /wechat; its outbox rows sent from this process")
    try:
        async with background(**{"wechat-outbox": sender.run_forever(),
                                 "wechat-retry": channel.retry_forever()}):
            yield
    finally:
        await channel.close()
        await channel.api.close()
        await channel.rasa.close()
        app.state.wechat = None
