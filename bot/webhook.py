"""Webhook mode: Telegram POSTs updates here; the secret-token header is checked first."""
from __future__ import annotations

import asyncio
import hmac
import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def webhook_app(application: Application, secret_token: str, path: str = "/telegram") -> Starlette:
    """An ASGI app that stores each update, queues it, and only then answers 200."""
    gateway = application.bot_data["gateway"]

    async def receive(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret_token.encode()):
            log.warning("webhook call without the right secret token from %s",
                        request.client.host if request.client else "?")
            return Response(status_code=403)
        try:
            data = await request.json()
            update = Update.de_json(data, application.bot)
        except (ValueError, KeyError, TypeError):
            return Response(status_code=400)
        await asyncio.to_thread(gateway.inbound.save, data)
        await application.update_queue.put(update)
        return Response(status_code=200)

    return Starlette(routes=[Route(path, receive, methods=["POST"])])
