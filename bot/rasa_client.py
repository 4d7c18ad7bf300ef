"""Rasa over HTTP: the REST channel for messages, the HTTP API for ``trigger_intent``."""
from __future__ import annotations

import logging
from typing import Any

import httpx

log = logging.getLogger(__name__)


class RasaUnavailable(Exception):
    """Rasa did not answer (down, timed out, or a 5xx); the message must be retried."""


class RasaClient:
    def __init__(self, base_url: str, token: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=5.0),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def send_message(self, sender: str, text: str,
                           metadata: dict[str, Any]) -> list[dict]:
        """One resident turn through the REST channel; returns Rasa's bot messages."""
        body = {"sender": sender, "message": text, "metadata": metadata}
        result = await self._post(f"{self.base_url}/webhooks/rest/webhook", body, {})
        return result if isinstance(result, list) else []

    async def trigger_intent(self, sender: str, intent: str,
                             entities: dict[str, Any]) -> list[dict]:
        """Start a conversation from our side (e.g. the rating); returns its messages."""
        url = f"{self.base_url}/conversations/{sender}/trigger_intent"
        params = {"token": self._token, "include_events": "NONE"}
        result = await self._post(url, {"name": intent, "entities": entities}, params)
        return list(result.get("messages") or []) if isinstance(result, dict) else []

    async def _post(self, url: str, body: dict, params: dict) -> Any:
        try:
            response = await self._http.post(url, json=body, params=params)
        except httpx.HTTPError as error:
            raise RasaUnavailable(f"{type(error).__name__}: {error}") from error
        if response.status_code >= 400:
            # A 4xx (bad token, bad body) will not heal by itself, but the message is
            # kept for retry rather than dropped; the error is stored with it.
            raise RasaUnavailable(f"HTTP {response.status_code}: {response.text[:200]}")
        try:
            return response.json()
        except ValueError as error:
            raise RasaUnavailable(f"not JSON: {response.text[:200]}") from error
