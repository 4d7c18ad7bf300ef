"""Taking a resident's turn so that a kept message can be sent to Rasa again without Rasa
taking its turn twice — for every channel (``take_turn``).

Each turn carries its key in the REST metadata (``TURN_KEY``). Before a message that a
process may already have sent is sent again (a retry, or an update whose gateway was
killed mid-turn), Rasa's tracker is read and:

- the turn is not there: send the message;
- the turn is there with bot messages: those are the answer; deliver them;
- the turn is there with no bot message (a custom action failed and Rasa dropped its
  events): put back the slots and the active form that the turn's earlier actions changed
  (e.g. the form submitted, then the action opening the case failed), then send the
  message again: it is taken as if for the first time.

A failed turn is not undone with Rasa's ``rewind``: inside a form Rasa's own bookkeeping
of the form's executions drops user events, and a rewind then undoes earlier steps of the
form too (the form ends).

Rasa saves a turn when it ends, so a turn still running is not seen; the inbound store's
claim lease (bot.core.inbound) keeps a retry away while the process that sent it is alive,
and Rasa drops the turn of a caller that disconnected.

An empty answer (``[]``) is the channel's to keep and retry, at most
``bot.core.inbound.EMPTY_ATTEMPTS`` times on every channel, telling the resident once.
"""
from __future__ import annotations

from typing import Any

from bot.core.rasa import RasaClient

TURN_KEY = "turn_key"
# last_error of a message Rasa answered with nothing (a custom action failed, the action
# server down or waiting for the database).
EMPTY_TURN = "EmptyTurn: Rasa gave no reply (is the action server down?)"
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


def undo_events(events: list[dict], key: str) -> list[dict]:
    """Events that set the slots and the active loop back to what they were before the
    last user turn with ``key``; none if the turn changed neither."""
    start = max((i for i, e in enumerate(events) if e.get("event") == "user"
                 and (e.get("metadata") or {}).get(TURN_KEY) == key), default=None)
    if start is None:
        return []
    slots: dict[str, Any] = {}
    loop = None
    for event in events[:start]:
        kind = event.get("event")
        if kind == "slot":
            slots[event.get("name")] = event.get("value")
        elif kind == "active_loop":
            loop = event.get("name")
        elif kind == "restart":
            slots, loop = {}, None
    changed: list[str] = []
    loop_changed = False
    for event in events[start + 1:]:
        kind = event.get("event")
        if kind == "user":
            break
        if kind == "slot" and event.get("name") not in changed:
            changed.append(event.get("name"))
        loop_changed = loop_changed or kind == "active_loop"
    undo: list[dict] = [{"event": "slot", "name": name, "value": slots.get(name)}
                        for name in changed]
    return undo + ([{"event": "active_loop", "name": loop}] if loop_changed else [])


def as_reply(bot: dict) -> dict[str, Any]:
    data = bot.get("data") or {}
    reply: dict[str, Any] = {"text": bot.get("text")} if bot.get("text") else {}
    reply.update({name: data[name] for name in REPLY_FIELDS if data.get(name)})
    return reply


async def earlier_answer(rasa: RasaClient, sender: str, key: str) -> list[dict] | None:
    """What Rasa answered to turn ``key`` already; None when it must be sent (again)."""
    events = await rasa.tracker_events(sender)
    found = find_turn(events, key)
    if found == []:
        undo = undo_events(events, key)
        if undo:
            await rasa.append_events(sender, undo)
    return found or None


async def take_turn(rasa: RasaClient, sender: str, key: str, text: str,
                    metadata: dict[str, Any], seen: bool) -> list[dict]:
    """Rasa's messages for turn ``key`` (``text`` from ``sender``); ``[]``: Rasa answered
    nothing, keep the message and retry. ``seen``: a process may have sent this turn before
    (a retry, or a message left by a process that died), so Rasa's tracker is read first.
    Raises RasaUnavailable."""
    if seen:
        earlier = await earlier_answer(rasa, sender, key)
        if earlier is not None:
            return earlier
    return await rasa.send_message(sender, text, {**metadata, TURN_KEY: key})
