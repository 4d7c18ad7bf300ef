"""One HTTP client session per endpoint, kept, instead of one per request.

Rasa's ``EndpointConfig.request`` opens a new ``aiohttp.ClientSession`` for every call to the
action server: a new connector, a host-name lookup on a thread, a new TCP connection, all
closed again after one reply. A web chat turn calls the action server several times (the
form's validation, the next question, the case), and under load that was 9 % of the Rasa
process (issue 15's profile). Here each endpoint keeps one session per event loop, whose
connections are reused and dropped after ``IDLE_SECONDS`` idle: below the 5 s after which
the action server (Sanic) closes an idle connection, so a request never goes out on a
connection the server is closing. A killed action server closes its sockets, the connector
sees that and connects anew once it is back; a request on the way when it dies fails as it
did before.

Requests, timeouts and errors are Rasa's own: only where the session comes from changes.
Installed by nlu/rasa_run.py for the serving process.
"""
from __future__ import annotations

import asyncio
import weakref

import aiohttp
import ujson
from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT, EndpointConfig

IDLE_SECONDS = 2.0


class _Kept:
    """``async with`` that hands out the kept session and leaves it open."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self.session

    async def __aexit__(self, *exc) -> bool:
        return False


# per event loop (a session belongs to the loop it was made in), per endpoint object
_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict] = (
    weakref.WeakKeyDictionary())


def kept_session(self: EndpointConfig):
    """``EndpointConfig.session`` for ``async with``: this endpoint's kept session."""
    loop = asyncio.get_running_loop()  # Rasa asks for it inside a request only
    by_endpoint = _sessions.setdefault(loop, {})
    session = by_endpoint.get(id(self))
    if session is None or session.closed:
        auth = None
        if self.basic_auth:
            auth = aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
        # the settings of Rasa's session, plus the connector's idle limit and ujson (already
        # Sanic's) for the body: each call sends the whole conversation, and json.dumps of it
        # was a third of the request's time
        session = aiohttp.ClientSession(
            headers=self.headers, auth=auth,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(keepalive_timeout=IDLE_SECONDS),
            json_serialize=ujson.dumps)
        by_endpoint[id(self)] = session
        # the endpoint object lives as long as the loaded agent; its session goes with it
        weakref.finalize(self, _forget, loop, by_endpoint, id(self))
    return _Kept(session)


def _forget(loop: asyncio.AbstractEventLoop, by_endpoint: dict, key: int) -> None:
    session = by_endpoint.pop(key, None)
    if session is not None and not session.closed and not loop.is_closed():
        loop.call_soon_threadsafe(lambda: loop.create_task(session.close()))


def install() -> None:
    EndpointConfig.session = kept_session
