"""A small stand-in for Rasa's HTTP API: REST channel webhook, ``trigger_intent`` and the
tracker's events (``GET /conversations/{sender}/tracker``, ``POST …/tracker/events``).

It answers every message with ``收到：<text>`` (plus scripted buttons), records what it
received, can add latency, and can be stopped and started again on the same port to
play "Rasa is down".
"""
from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Reply = Callable[[dict], list[dict]]


def echo_reply(message: dict) -> list[dict]:
    """The default script: echo the text; offer buttons when asked for a choice."""
    text = message.get("message", "")
    reply: dict[str, Any] = {"recipient_id": message["sender"], "text": f"收到：{text}"}
    if "选择" in text:
        reply["buttons"] = [
            {"title": "环境卫生", "payload": '/choose_category{"category": "sanitation"}'},
            {"title": "乱堆乱放", "payload": '/choose_category{"category": "clutter"}'},
        ]
    return [reply]


@dataclass
class FakeRasa:
    token: str = "test-rasa-token-7621"
    reply: Reply = echo_reply
    latency: Callable[[], float] = lambda: 0.0
    received: list[dict] = field(default_factory=list)
    triggered: list[dict] = field(default_factory=list)
    silent_triggers: int = 0  # answer this many triggers with no messages (actions down)
    events: dict[str, list[dict]] = field(default_factory=dict)  # the trackers, by sender
    port: int = 0
    _runner: web.AppRunner | None = None

    async def start(self, port: int | None = None) -> FakeRasa:
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", self._webhook)
        app.router.add_post("/conversations/{sender}/trigger_intent", self._trigger)
        app.router.add_post("/conversations/{sender}/tracker/events", self._append)
        app.router.add_get("/conversations/{sender}/tracker", self._tracker)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port if port is None else port,
                           reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def texts_from(self, sender: str) -> list[str]:
        return [m["message"] for m in self.received if m["sender"] == sender]

    async def _webhook(self, request: web.Request) -> web.Response:
        message = await request.json()
        await asyncio.sleep(self.latency())
        self.received.append(message)
        replies = self.reply(message)
        tracker = self.events.setdefault(message["sender"], [])
        tracker.append({"event": "user", "text": message.get("message"),
                        "metadata": message.get("metadata") or {}})
        tracker += [{"event": "bot", "text": r.get("text"),
                     "data": {"buttons": r.get("buttons")}} for r in replies]
        return web.json_response(replies)

    async def _append(self, request: web.Request) -> web.Response:
        if request.query.get("token") != self.token:
            return web.json_response({"status": "failure", "code": 401}, status=401)
        tracker = self.events.setdefault(request.match_info["sender"], [])
        tracker += await request.json()
        return web.json_response({"sender_id": request.match_info["sender"]})

    async def _tracker(self, request: web.Request) -> web.Response:
        if request.query.get("token") != self.token:
            return web.json_response({"status": "failure", "code": 401}, status=401)
        return web.json_response({"sender_id": request.match_info["sender"],
                                  "events": self.events.get(request.match_info["sender"], [])})

    async def _trigger(self, request: web.Request) -> web.Response:
        if request.query.get("token") != self.token:
            return web.json_response({"status": "failure", "code": 401}, status=401)
        body = await request.json()
        sender = request.match_info["sender"]
        self.triggered.append({"sender": sender, **body})
        case_no = body.get("entities", {}).get("case_no", "")
        if self.silent_triggers > 0:
            self.silent_triggers -= 1
            return web.json_response({"tracker": {"sender_id": sender}, "messages": []})
        messages = [{
            "recipient_id": sender,
            "text": f"您的工单 {case_no} 已办结，请评价：",
            "buttons": [
                {"title": "满意", "payload": '/rate{"rating": "satisfied"}'},
                {"title": "基本满意", "payload": '/rate{"rating": "basically_satisfied"}'},
                {"title": "不满意", "payload": '/rate{"rating": "dissatisfied"}'},
            ],
        }]
        return web.json_response({"tracker": {"sender_id": sender}, "messages": messages})


def realistic_latency(mean: float = 0.08, spread: float = 0.04) -> Callable[[], float]:
    """Rasa NLU + a dialogue policy on this hardware: tens of milliseconds, some jitter."""
    return lambda: max(0.0, random.gauss(mean, spread))
