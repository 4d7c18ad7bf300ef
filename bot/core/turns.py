"""One turn at a time per conversation, in arrival order, on every channel.

Rasa must see a resident's messages in the order they were sent; each channel runs a
turn inside ``turns.lock(conversation)``. A lock lives only while someone holds or waits
for it, so idle conversations cost nothing.
"""
from __future__ import annotations

import asyncio
import weakref
from collections.abc import Hashable


class Turns:
    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[Hashable, asyncio.Lock] = (
            weakref.WeakValueDictionary())

    def lock(self, conversation: Hashable) -> asyncio.Lock:
        """The lock of one conversation (a chat id, an openid, a web-chat id)."""
        lock = self._locks.get(conversation)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[conversation] = lock
        return lock
