"""bot.core.rasa.RasaClient against a real local HTTP server: what Rasa answers, and every
way of not answering becomes RasaUnavailable (the message is kept for retry)."""
from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web

from bot.core.rasa import RasaClient, RasaUnavailable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def serve(handler):
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


def test_a_turn_and_a_tracker_come_back_as_rasa_sent_them():
    seen = []

    async def rasa(request):
        seen.append((request.method, request.path, dict(request.query),
                     await request.json() if request.can_read_body else None))
        if request.path.endswith("/tracker"):
            return web.json_response({"events": [{"event": "user", "text": "路灯坏了"}, 7]})
        return web.json_response([{"recipient_id": "web:1", "text": "好的，请问在几号楼？"}, "x"])

    async def run():
        runner, url = await serve(rasa)
        try:
            async with RasaClient(url, "tok") as client:
                replies = await client.send_message("web:1", "路灯坏了", {"channel": "web"})
                events = await client.tracker_events("web:1")
        finally:
            await runner.cleanup()
        return replies, events

    replies, events = asyncio.run(run())
    assert replies == [{"recipient_id": "web:1", "text": "好的，请问在几号楼？"}]
    assert events == [{"event": "user", "text": "路灯坏了"}]
    assert seen[0] == ("POST", "/webhooks/rest/webhook", {}, {
        "sender": "web:1", "message": "路灯坏了", "metadata": {"channel": "web"}})
    assert seen[1][:3] == ("GET", "/conversations/web:1/tracker",
                           {"token": "tok", "include_events": "ALL"})


@pytest.mark.parametrize("answer", ["error", "not json", "slow", "closed"])
def test_every_way_of_not_answering_is_rasa_unavailable(answer):
    async def rasa(request):
        if answer == "error":
            return web.Response(status=503, text="model loading")
        if answer == "slow":
            await asyncio.sleep(3)
        return web.Response(text="<html>proxy error</html>")

    async def run():
        runner, url = await serve(rasa)
        if answer == "closed":
            await runner.cleanup()  # nothing listens on the port any more
        try:
            async with RasaClient(url, "tok", timeout=0.5) as client:
                with pytest.raises(RasaUnavailable) as raised:
                    await client.send_message("web:1", "你好", {})
                assert await client.parse("你好") is None  # parse says None instead
                return str(raised.value)
        finally:
            if answer != "closed":
                await runner.cleanup()

    message = asyncio.run(run())
    expected = {"error": "HTTP 503: model loading", "not json": "not JSON",
                "slow": "Timeout", "closed": "Connect"}[answer]
    assert expected in message
