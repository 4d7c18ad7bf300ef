"""Sending a kept message to Rasa again without Rasa taking its turn twice.

Each turn carries its key in the REST metadata (``TURN_KEY``). Before a message that a
process may already have sent is sent again (a retry, or an update whose gateway was
killed mid-turn), Rasa's tracker is read and:

- the turn is not there, or there with no bot message (a custom action failed and Rasa
  dropped its events, so the turn changed nothing): send the message;
- the turn is there with bot messages: those are the answer; deliver them.

A failed turn is not undone with Rasa's ``rewind``: inside a form Rasa's own bookkeeping
of the form's executions drops user events, and a rewind then undoes earlier steps of the
form too (the form ends). Sent again, the form simply goes on from where it was.

Rasa saves a turn when it ends, so a turn still running is not seen; the update's lease
(bot.inbound) keeps a retry away until the process that sent it is gone for seconds, and
Rasa drops the turn of a caller that disconnected.
"""
from __future__ import annotations

from typing import Any

from bot.core.rasa import RasaClient

TURN_KEY = "turn_key"
# A bot event's ``data`` fields that the REST channel returns as a message's fields.
REPLY_FIELDS = ("buttons", "image", "custom", "attachment", "elements", "quick_replies")


def find_turn(events: list[dict], key: str) -> list[dict] | None:
    """The bot messages of the last user turn with ``key`` (not rewound by Rasa, as its
    fallback does), in the REST channel's shape; None if Rasa has no such turn."""
    turns: list[tuple[dict, list[dict]]] = []
    current: list[dict] | None = None  # the bot messages of the turn running, if any
    for event in events:
        kind = event.get("event")
        if kind == "user":
            turns.append((event, []))
            current = turns[-1][1]
        elif kind == "bot" and current is not None:
            current.append(event)
        elif kind == "rewind":
            if turns:
                turns.pop()
            current = None
    for user, bots in reversed(turns):
        if (user.get("metadata") or {}).get(TURN_KEY) == key:
            return [as_reply(bot) for bot in bots]
    return None


def as_reply(bot: dict) -> dict[str, Any]:
    data = bot.get("data") or {}
    reply: dict[str, Any] = {"text": bot.get("text")} if bot.get("text") else {}
    reply.update({name: data[name] for name in REPLY_FIELDS if data.get(name)})
    return reply


async def earlier_answer(rasa: RasaClient, sender: str, key: str) -> list[dict] | None:
    """What Rasa answered to turn ``key`` already; None when it must be sent (again)."""
    return find_turn(await rasa.tracker_events(sender), key) or None
