"""Two plain ASGI middlewares: security headers on every response, and every refused
request (403: a role, a scope, a CSRF check) in the audit log.

Plain ASGI rather than ``@app.middleware("http")``: Starlette runs each of those in a task
group with memory streams between it and the app, which cost the web chat about a twentieth
of its CPU per turn.
"""
from __future__ import annotations

import asyncio

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from minsheng import audit

DOCS_PATHS = ("/docs", "/redoc", "/openapi.json")
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        csp = not scope["path"].startswith(DOCS_PATHS)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                if csp:
                    headers.setdefault("Content-Security-Policy", CSP)
            await send(message)

        await self.app(scope, receive, with_headers)


class AuditRefusals:
    def __init__(self, app: ASGIApp, db) -> None:
        self.app, self.db = app, db

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refused = False

        async def noting(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start" and message["status"] == 403:
                refused = True
            await send(message)

        await self.app(scope, receive, noting)
        if refused:
            user = scope.get("state", {}).get("user")
            client = scope.get("client")
            await asyncio.to_thread(
                audit.record_now, self.db, "refused",
                actor=f"user:{user.id}" if user else None,
                target=f"{scope['method']} {scope['path']}",
                address=client[0] if client else None)
