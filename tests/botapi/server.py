"""A local Bot API server: enough of https://core.telegram.org/bots/api for the gateway.

It serves ``getMe``, ``getUpdates`` (long polling on a queue the test fills), ``getFile``
and file downloads, and records every other call (``sendMessage``, ``editMessageText``,
``editMessageReplyMarkup``, ``answerCallbackQuery``, ``sendPhoto`` …) while answering
with valid Bot API JSON. Faults can be injected per method.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = 7000000001
BOT_USERNAME = "minsheng_test_bot"
TOKEN = f"{BOT_ID}:TEST-token-for-the-local-bot-api-server"


@dataclass
class Call:
    """One recorded Bot API call."""

    method: str
    params: dict[str, Any]
    result: Any = None
    failed: bool = False
    at: float = field(default_factory=time.monotonic)

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")

    @property
    def buttons(self) -> list[dict]:
        """Inline keyboard buttons, flattened (``text`` and ``callback_data``)."""
        markup = self.params.get("reply_markup") or {}
        return [button for row in markup.get("inline_keyboard", []) for button in row]


class BotApiServer:
    """Start with ``await server.start()``; point PTB at ``base_url`` and ``base_file_url``."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.files: dict[str, bytes] = {}
        self._updates: list[dict] = []
        self._update_ids = itertools.count(100001)
        self._message_ids = itertools.count(1)
        self._new_update = asyncio.Condition()
        self._new_call = asyncio.Condition()
        self._faults: dict[str, list[tuple[int, str, dict | None]]] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.confirmed_offset = 0
        self._closing = False

    # -- lifecycle -------------------------------------------------------------------
    async def start(self, port: int = 0) -> BotApiServer:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self._closing = True
        async with self._new_update:
            self._new_update.notify_all()  # release long polls …
        await asyncio.sleep(0.05)  # … and let them answer before the sockets close
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # -- what tests do ---------------------------------------------------------------
    def next_update_id(self) -> int:
        return next(self._update_ids)

    async def push(self, update: dict) -> int:
        """Queue an update for ``getUpdates``; returns its update_id."""
        update.setdefault("update_id", self.next_update_id())
        async with self._new_update:
            self._updates.append(update)
            self._new_update.notify_all()
        return update["update_id"]

    def add_file(self, file_id: str, content: bytes) -> None:
        self.files[file_id] = content

    def fail(self, method: str, times: int = 1, error_code: int = 500,
             description: str = "Internal Server Error", parameters: dict | None = None) -> None:
        """Make the next ``times`` calls of ``method`` fail with this Bot API error."""
        self._faults.setdefault(method, []).extend(
            [(error_code, description, parameters)] * times
        )

    def calls_of(self, method: str, chat_id: int | None = None) -> list[Call]:
        return [
            call for call in self.calls
            if call.method == method and not call.failed
            and (chat_id is None or call.chat_id == chat_id)
        ]

    def sent_to(self, chat_id: int) -> list[Call]:
        """Messages and photos the bot sent to ``chat_id``, in order."""
        return [c for c in self.calls if not c.failed
                and c.method in ("sendMessage", "sendPhoto") and c.chat_id == chat_id]

    async def wait_for(self, predicate: Callable[[list[Call]], Any],
                       timeout: float = 5.0) -> Any:
        """Wait until ``predicate(calls)`` is truthy and return its value."""
        async def _wait() -> Any:
            async with self._new_call:
                while True:
                    value = predicate(self.calls)
                    if value:
                        return value
                    await self._new_call.wait()

        try:
            return await asyncio.wait_for(_wait(), timeout)
        except asyncio.TimeoutError:
            summary = [(c.method, c.params.get("chat_id"), c.text[:60]) for c in self.calls]
            raise AssertionError(f"no such Bot API call within {timeout}s; calls: {summary}")

    async def wait_for_messages(self, chat_id: int, count: int = 1,
                                timeout: float = 5.0) -> list[Call]:
        return await self.wait_for(
            lambda calls: (sent := self.sent_to(chat_id)) and len(sent) >= count and sent,
            timeout,
        )

    # -- HTTP ------------------------------------------------------------------------
    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await _params(request)
        faults = self._faults.get(method)
        if faults:
            code, description, parameters = faults.pop(0)
            await self._record(Call(method, params, failed=True))
            return _error(code, description, parameters)
        if method == "getUpdates":
            return _ok(await self._api_getUpdates(params))
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            await self._record(Call(method, params, failed=True))
            return _error(404, "Not Found: method not found")
        result = await handler(params)
        await self._record(Call(method, params, result))
        return _ok(result)

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        file_id = request.match_info["path"].rsplit("/", 1)[-1]
        content = self.files.get(file_id)
        if content is None:
            return web.Response(status=404)
        return web.Response(body=content, content_type="image/jpeg")

    async def _record(self, call: Call) -> None:
        async with self._new_call:
            self.calls.append(call)
            self._new_call.notify_all()

    # -- Bot API methods ---------------------------------------------------------------
    def _bot_user(self) -> dict:
        return {"id": BOT_ID, "is_bot": True, "first_name": "民生说事",
                "username": BOT_USERNAME, "can_join_groups": False,
                "can_read_all_group_messages": False, "supports_inline_queries": False}

    async def _api_getMe(self, params: dict) -> dict:
        return self._bot_user()

    async def _api_getUpdates(self, params: dict) -> list[dict]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        self.confirmed_offset = max(self.confirmed_offset, offset)
        deadline = time.monotonic() + timeout
        async with self._new_update:
            while True:
                pending = [u for u in self._updates if u["update_id"] >= offset][:limit]
                remaining = deadline - time.monotonic()
                if pending or remaining <= 0 or self._closing:
                    return pending
                try:
                    await asyncio.wait_for(self._new_update.wait(), remaining)
                except asyncio.TimeoutError:
                    pass

    async def _api_deleteWebhook(self, params: dict) -> bool:
        return True

    async def _api_setWebhook(self, params: dict) -> bool:
        return True

    async def _api_getFile(self, params: dict) -> dict:
        file_id = params["file_id"]
        if file_id not in self.files:
            raise web.HTTPBadRequest(text=json.dumps(
                {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}),
                content_type="application/json")
        return {"file_id": file_id, "file_unique_id": f"u-{file_id}",
                "file_size": len(self.files[file_id]), "file_path": f"photos/{file_id}"}

    def _message(self, params: dict, **content: Any) -> dict:
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": int(params["chat_id"]), "type": "private"},
            "from": self._bot_user(),
            **content,
        }
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup  # Telegram echoes inline keyboards only
        return message

    async def _api_sendMessage(self, params: dict) -> dict:
        return self._message(params, text=params["text"])

    async def _api_sendPhoto(self, params: dict) -> dict:
        photo = [{"file_id": "sent-photo", "file_unique_id": "sent-photo",
                  "width": 640, "height": 480}]
        return self._message(params, photo=photo, caption=params.get("caption", ""))

    async def _api_editMessageText(self, params: dict) -> dict:
        return {**self._message(params, text=params["text"]),
                "message_id": int(params["message_id"])}

    async def _api_editMessageReplyMarkup(self, params: dict) -> dict:
        return {**self._message(params, text=""), "message_id": int(params["message_id"])}

    async def _api_answerCallbackQuery(self, params: dict) -> bool:
        return True

    async def _api_sendChatAction(self, params: dict) -> bool:
        return True

    async def _api_setMyCommands(self, params: dict) -> bool:
        return True

    async def _api_close(self, params: dict) -> bool:
        return True


async def _params(request: web.Request) -> dict[str, Any]:
    """Bot API parameters from a query string, form, multipart body or JSON body."""
    params: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            params.update(await request.json())
        else:
            form = await request.post()
            for key, value in form.items():
                params[key] = value if isinstance(value, str) else "<file>"
    return {key: _decode(value) for key, value in params.items()}


def _decode(value: Any) -> Any:
    """PTB sends non-string parameters JSON-encoded inside the form."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(code: int, description: str, parameters: dict | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)
