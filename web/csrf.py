"""CSRF protection: starlette-csrf's double-submit cookie, also accepting a form field.

Server-rendered forms carry the token in a hidden ``csrftoken`` field; scripts send it in
the ``X-CSRFToken`` header. The request body is read once here (bounded by
``max_body``) and replayed to the application.

A call to the JSON API (``/api/…``) with ``Authorization: Bearer …`` needs no CSRF token:
a browser never adds that header to a cross-site request by itself, and such a request is
authenticated by the token alone, never by cookies (web/deps.py). Nor does WeChat's
``POST /wechat``, signed by WeChat. Cookie-authenticated forms and calls are checked as before.
"""
from __future__ import annotations

from urllib.parse import parse_qs

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette_csrf import CSRFMiddleware

FIELD = "csrftoken"
SESSION_KEY = "csrf"  # kept across login (web/auth.py), like the chat's identity
API_PREFIX = "/api/"
# Called by WeChat's servers, never by a browser with our cookies; authenticated by its
# signature (web/wechat.py), which a forged cross-site request cannot carry.
SIGNED_WEBHOOKS = ("/wechat",)


STALE_FORM = "页面已过期，请刷新后再提交。"


def csrf_token(request: Request) -> str:
    """The token a page should embed: this session's (also set as the cookie)."""
    return request.scope.get("csrf_new_token") or request.cookies.get(FIELD, "")


class FormCSRFMiddleware(CSRFMiddleware):
    def __init__(self, app: ASGIApp, secret: str, max_body: int, **kwargs) -> None:
        super().__init__(app, secret, cookie_name=FIELD, **kwargs)
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bound = self._session_token(scope)
        if Request(scope).cookies.get(FIELD) != bound:
            scope["csrf_new_token"] = bound  # (re)set the cookie: a planted one is replaced
        if scope["method"] not in self.safe_methods:
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body:
                await PlainTextResponse("上传内容过大", status_code=413)(scope, receive, send)
                return
            if _bearer_api_call(scope) or scope["path"] in SIGNED_WEBHOOKS:
                await self.app(scope, receive, send)
                return
            body = await _read_body(receive, self.max_body)
            if body is None:
                await PlainTextResponse("上传内容过大", status_code=413)(scope, receive, send)
                return
            scope["csrf_form_token"] = await _form_token(scope, body)
            receive = _replay(body)
            submitted = await self._get_submitted_csrf_token(Request(scope))
            if bound and submitted != bound:  # a token, but not this session's
                await PlainTextResponse(STALE_FORM, status_code=403)(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def _session_token(self, scope: Scope) -> str | None:
        """The token bound to this browser's session, made when the session has none.

        The double-submit cookie alone would accept a cookie an attacker managed to plant;
        bound to the signed session, a token is only good for the session it was made in.
        """
        session = scope.get("session")
        if session is None:  # no session middleware around us (never in the app)
            return Request(scope).cookies.get(FIELD) or self._generate_csrf_token()
        if not session.get(SESSION_KEY):
            session[SESSION_KEY] = self._generate_csrf_token()
        return session[SESSION_KEY]

    async def _get_submitted_csrf_token(self, request: Request) -> str | None:
        return request.headers.get(self.header_name) or request.scope.get("csrf_form_token")

    async def send(self, message: Message, send: Send, scope: Scope) -> None:
        new_token = scope.get("csrf_new_token")
        if new_token and message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            secure = "; Secure" if self.cookie_secure else ""
            headers.append(
                "set-cookie",
                f"{FIELD}={new_token}; Path=/; SameSite={self.cookie_samesite}{secure}",
            )
        await send(message)


def _bearer_api_call(scope: Scope) -> bool:
    if not scope["path"].startswith(API_PREFIX):
        return False
    scheme, _, value = Request(scope).headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(value.strip())


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _form_token(scope: Scope, body: bytes) -> str | None:
    content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
    if content_type.startswith("application/x-www-form-urlencoded"):
        values = parse_qs(body.decode("utf-8", "replace")).get(FIELD)
        return values[0] if values else None
    if content_type.startswith("multipart/form-data"):
        request = Request(scope, _replay(body))
        form = await request.form()
        try:
            value = form.get(FIELD)
            return value if isinstance(value, str) else None
        finally:
            await form.close()
    return None
