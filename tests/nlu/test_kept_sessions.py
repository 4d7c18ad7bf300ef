"""nlu/kept_sessions.py: Rasa's endpoint requests reuse one connection, and a restarted
server is reached again."""
from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web
from rasa.utils.endpoints import EndpointConfig

from nlu import kept_sessions


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BODY = {"next_action": "action_open_case", "sender_id": "webchat:4f2a",
        "tracker": {"latest_message": {"text": "楼道里有人飞线充电 <b>/start</b> \"引号\"",
                                       "intent": {"name": "report_safety_hazard",
                                                  "confidence": 0.9712345678901234}},
                    "slots": {"place": None, "photos_done": True, "count": 3}}}


class ActionServer:
    """A stand-in for the action server that counts the connections it was asked on."""

    def __init__(self, port: int) -> None:
        self.port, self.peers, self.bodies, self.runner = port, [], [], None

    async def webhook(self, request: web.Request) -> web.Response:
        self.peers.append(request.transport.get_extra_info("peername")[1])
        self.bodies.append(await request.json())
        return web.json_response({"events": [], "responses": []})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/webhook", self.webhook)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        await self.runner.cleanup()


@pytest.fixture
def kept(monkeypatch):
    monkeypatch.setattr(EndpointConfig, "session", kept_sessions.kept_session)


def test_requests_of_one_endpoint_share_a_connection(kept):
    async def run():
        server = ActionServer(free_port())
        await server.start()
        endpoint = EndpointConfig(f"http://localhost:{server.port}/webhook")
        replies = [await endpoint.request(json=BODY) for _ in range(5)]
        await server.stop()
        return server.peers, server.bodies, replies

    peers, bodies, replies = asyncio.run(run())
    assert replies == [{"events": [], "responses": []}] * 5
    assert bodies == [BODY] * 5  # the body as sent, Chinese, slashes and floats included
    assert len(peers) == 5 and len(set(peers)) == 1  # Rasa's own session: five connections


def test_a_restarted_server_is_reached_again_and_an_idle_connection_is_dropped(kept):
    async def run():
        port = free_port()
        server = ActionServer(port)
        await server.start()
        endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook")
        await endpoint.request(json={})
        await server.stop()  # killed and back: its sockets are closed
        server = ActionServer(port)
        await server.start()
        after_restart = await endpoint.request(json={})
        await asyncio.sleep(kept_sessions.IDLE_SECONDS + 0.5)
        await endpoint.request(json={})
        await server.stop()
        return after_restart, server.peers

    after_restart, peers = asyncio.run(run())
    assert after_restart == {"events": [], "responses": []}
    assert len(set(peers)) == 2  # the idle connection was not used after IDLE_SECONDS
