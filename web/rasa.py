"""Talking to the Rasa server: the REST channel (chat) and /model/parse (suggestions)."""
from __future__ import annotations

import logging

import httpx

from minsheng.settings import Settings

log = logging.getLogger(__name__)
CHAT_TIMEOUT = 30.0
PARSE_TIMEOUT = 5.0


class RasaUnavailable(RuntimeError):
    """Rasa did not answer; the chat tells the resident to try again later."""


async def send_message(settings: Settings, sender: str, message: str) -> list[dict]:
    """Send one message through the REST channel; Rasa's replies (text, buttons, images)."""
    url = settings.rasa_url.rstrip("/") + "/webhooks/rest/webhook"
    try:
        async with httpx.AsyncClient(timeout=CHAT_TIMEOUT) as client:
            response = await client.post(url, json={"sender": sender, "message": message})
            response.raise_for_status()
            replies = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("Rasa REST channel failed: %s", exc)
        raise RasaUnavailable(str(exc)) from exc
    return [r for r in replies if isinstance(r, dict)] if isinstance(replies, list) else []


async def parse(settings: Settings, text: str) -> dict | None:
    """Rasa's NLU result for ``text`` (intent, ranking, entities), or None when unreachable."""
    url = settings.rasa_url.rstrip("/") + "/model/parse"
    try:
        async with httpx.AsyncClient(timeout=PARSE_TIMEOUT) as client:
            response = await client.post(url, params={"token": settings.rasa_token},
                                         json={"text": text})
            response.raise_for_status()
            result = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        log.info("Rasa parse unavailable: %s", exc)
        return None
    return result if isinstance(result, dict) else None
