"""The buttons offered to each chat, so that only an offered payload is ever forwarded.

Telegram limits callback data to 64 bytes and lets any client send any data, so the
Rasa payload (``/choose_category{"category": "clutter"}``) never travels in it: the
keyboard carries ``r:<token>`` and this table maps (chat, token) back to the payload.
A token is a hash of chat and payload, so offering the same button twice reuses it.
The table lives where the shared-state setting says (minsheng.shared_state): in the
gateway's memory, or in Redis, where a button one gateway offered is known to every other.
After a restart (memory) a press it does not know is looked up in the chat's recent
replies kept in the outbox (bot.delivery.offered_buttons), so a press stored before a
crash is still answered. Older buttons answer ``BUTTON_EXPIRED`` and the resident types
the answer instead.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from minsheng.shared_state import MEMORY, ExpiringMap

RESIDENT_PREFIX = "r:"
# Longer than a case waits for its rating (rating_close_days, 7): the rating buttons of
# the last reply still answer until the case closes itself.
BUTTON_TTL = 14 * 24 * 3600


@dataclass(frozen=True)
class OfferedButton:
    chat_id: int
    title: str
    payload: str


class OfferedButtons:
    def __init__(self, shared_state_url: str = MEMORY, capacity: int = 200_000,
                 ttl: float = BUTTON_TTL) -> None:
        self._offered = ExpiringMap(shared_state_url, "buttons", ttl, capacity)

    def offer(self, chat_id: int, title: str, payload: str) -> str:
        """Remember a button for ``chat_id``; returns its callback data (≤ 64 bytes)."""
        token = hashlib.blake2b(f"{chat_id}\0{payload}".encode(), digest_size=8).hexdigest()
        self._offered.put(f"{chat_id}:{token}", [title, payload])
        return RESIDENT_PREFIX + token

    def lookup(self, chat_id: int, callback_data: str) -> OfferedButton | None:
        """The button behind ``callback_data`` if it was offered to this very chat."""
        if not callback_data.startswith(RESIDENT_PREFIX):
            return None
        token = callback_data[len(RESIDENT_PREFIX):]
        if not token.isalnum():  # never a key pattern of the shared store
            return None
        found = self._offered.get(f"{chat_id}:{token}")
        return None if found is None else OfferedButton(chat_id, *found)
