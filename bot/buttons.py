"""The buttons offered to each chat, so that only an offered payload is ever forwarded.

Telegram limits callback data to 64 bytes and lets any client send any data, so the
Rasa payload (``/choose_category{"category": "clutter"}``) never travels in it: the
keyboard carries ``r:<token>`` and this table maps (chat, token) back to the payload.
A token is a hash of chat and payload, so offering the same button twice reuses it.
The table lives in the gateway's memory; after a restart a press it does not know is
looked up in the chat's recent replies kept in the outbox (bot.delivery.offered_buttons),
so a press stored before a crash is still answered. Older buttons answer
``BUTTON_EXPIRED`` and the resident types the answer instead.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

RESIDENT_PREFIX = "r:"


@dataclass(frozen=True)
class OfferedButton:
    chat_id: int
    title: str
    payload: str


class OfferedButtons:
    def __init__(self, capacity: int = 200_000) -> None:
        self._capacity = capacity
        self._offered: OrderedDict[tuple[int, str], OfferedButton] = OrderedDict()

    def offer(self, chat_id: int, title: str, payload: str) -> str:
        """Remember a button for ``chat_id``; returns its callback data (≤ 64 bytes)."""
        token = hashlib.blake2b(f"{chat_id}\0{payload}".encode(), digest_size=8).hexdigest()
        key = (chat_id, token)
        self._offered[key] = OfferedButton(chat_id, title, payload)
        self._offered.move_to_end(key)
        while len(self._offered) > self._capacity:
            self._offered.popitem(last=False)
        return RESIDENT_PREFIX + token

    def lookup(self, chat_id: int, callback_data: str) -> OfferedButton | None:
        """The button behind ``callback_data`` if it was offered to this very chat."""
        if not callback_data.startswith(RESIDENT_PREFIX):
            return None
        return self._offered.get((chat_id, callback_data[len(RESIDENT_PREFIX):]))
