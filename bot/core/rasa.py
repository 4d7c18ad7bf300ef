"""Rasa over HTTP, for every channel: the REST channel for messages, the HTTP API for
``trigger_intent`` and ``/model/parse``; and the one slash neutraliser.

Only a channel adapter makes ``/intent{...}`` messages (location, photo, contact,
offered buttons). Text a resident types goes through ``neutralise`` first, so Rasa never
reads it as a forced intent.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import ssl
from typing import Any

import aiohttp
import httpx

from minsheng.nlu_log import FULL_WIDTH_SLASH

log = logging.getLogger(__name__)

PARSE_TIMEOUT = 5.0


class RasaUnavailable(Exception):
    """Rasa did not answer (down, timed out, or a 5xx); the message must be retried."""


# Characters a resident cannot see: NUL and other controls (PostgreSQL refuses NUL in
# text), zero-width spaces and joiners, the byte-order mark, and bidi overrides that make
# text display differently from what it says. Line breaks and tabs stay.
INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e"
                       "\u2060-\u2064\u2066-\u2069\ufeff]")


def clean(text: str) -> str:
    """What the resident visibly typed: invisible characters removed, space trimmed."""
    return INVISIBLE.sub("", text or "").strip()


def neutralise(text: str) -> str:
    """Typed text as Rasa may read it: ``clean``, and never a forced intent — a leading
    '/' becomes '／'. Empty if nothing visible was typed."""
    stripped = clean(text)
    if stripped.startswith("/"):
        return FULL_WIDTH_SLASH + stripped[1:]
    return stripped


def intent_message(intent: str, **entities: object) -> str:
    """A channel-made forced intent, e.g. ``/share_location{"lat": 39.9, "lon": 116.4}``."""
    return f"/{intent}{json.dumps(entities, ensure_ascii=False)}"


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context per process for every client: building one reads every CA
    certificate (~10 ms of CPU), and the web chat makes a client per turn off the app's
    loop. httpx's: the certifi bundle, as before aiohttp. Safe to share between loops."""
    return httpx.create_ssl_context()


class RasaClient:
    """Rasa's HTTP API over aiohttp: a third of httpx's CPU per request (0.36 against
    1.21 ms for a web chat turn's post, client and a local server together), and the web
    app makes one per turn. The session is made on first use, in the loop that uses it."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        # as httpx's Timeout(timeout, connect=5.0): each read may wait ``timeout`` seconds
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=5.0, sock_read=timeout)
        self._http: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            # A kept connection is let go after 2 s idle, well before a server's keep-alive
            # timeout (Rasa's 120 s, nginx's 75 s) can close it under a request being sent.
            connector = aiohttp.TCPConnector(limit=100, keepalive_timeout=2.0,
                                             ssl=tls_context())
            self._http = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._http

    async def __aenter__(self) -> RasaClient:  # noqa: PYI034 - not subclassed
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def send_message(self, sender: str, text: str,
                           metadata: dict[str, Any]) -> list[dict]:
        """One resident turn through the REST channel; returns Rasa's bot messages."""
        body = {"sender": sender, "message": text, "metadata": metadata}
        result = await self._post(f"{self.base_url}/webhooks/rest/webhook", body, {})
        return [r for r in result if isinstance(r, dict)] if isinstance(result, list) else []

    async def trigger_intent(self, sender: str, intent: str,
                             entities: dict[str, Any]) -> list[dict]:
        """Start a conversation from our side (e.g. the rating); returns its messages."""
        url = f"{self.base_url}/conversations/{sender}/trigger_intent"
        params = {"token": self._token, "include_events": "NONE"}
        result = await self._post(url, {"name": intent, "entities": entities}, params)
        return list(result.get("messages") or []) if isinstance(result, dict) else []

    async def append_events(self, sender: str, events: list[dict]) -> None:
        """Append ``events`` (at least one) to the conversation, under Rasa's lock for it."""
        url = f"{self.base_url}/conversations/{sender}/tracker/events"
        await self._post(url, events, {"token": self._token, "include_events": "NONE"})

    async def tracker_events(self, sender: str) -> list[dict]:
        """Every event of the conversation, as Rasa's tracker store has it now."""
        url = f"{self.base_url}/conversations/{sender}/tracker"
        text = await self._request("GET", url, {"token": self._token, "include_events": "ALL"})
        try:
            events = json.loads(text).get("events")
        except (ValueError, AttributeError) as error:
            raise RasaUnavailable(f"not a tracker: {text[:200]}") from error
        return [e for e in events or [] if isinstance(e, dict)]

    async def parse(self, text: str) -> dict | None:
        """Rasa's NLU result for ``text`` (intent, ranking, entities), or None when unreachable."""
        try:
            result = await self._post(f"{self.base_url}/model/parse", {"text": text},
                                      {"token": self._token}, timeout=PARSE_TIMEOUT)
        except RasaUnavailable as error:
            log.info("Rasa parse unavailable: %s", error)
            return None
        return result if isinstance(result, dict) else None

    async def _post(self, url: str, body: dict | list, params: dict,
                    timeout: float | None = None) -> Any:
        text = await self._request("POST", url, params, body, timeout)
        try:
            return json.loads(text)
        except ValueError as error:
            raise RasaUnavailable(f"not JSON: {text[:200]}") from error

    async def _request(self, method: str, url: str, params: dict, body: Any = None,
                       timeout: float | None = None) -> str:
        """The body of a 2xx or 3xx answer; RasaUnavailable for anything else."""
        extra = {"timeout": aiohttp.ClientTimeout(total=timeout)} if timeout is not None else {}
        try:
            async with self._session().request(method, url, params=params, json=body,
                                               **extra) as response:
                status, text = response.status, await response.text()
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise RasaUnavailable(f"{type(error).__name__}: {error}") from error
        if status >= 400:
            # A 4xx (bad token, bad body) will not heal by itself, but the message is
            # kept for retry rather than dropped; the error is stored with it.
            raise RasaUnavailable(f"HTTP {status}: {text[:200]}")
        return text
