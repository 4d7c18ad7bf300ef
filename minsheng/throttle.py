"""Counters of attempts per key in fixed time windows: in memory, or in Redis when shared.

Used to slow down password guessing (and, later, floods on the chat). The ``limits``
package would be the library for this, but every release of it needs a newer
``packaging`` than Rasa 3.6 allows, so this is the small part of it we need.
``throttle_url``: ``memory://`` (one process) or ``redis://host:port/db`` (every replica
sees the same counts).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Counter:
    """How many times ``key`` was hit in the current window of ``window`` seconds."""

    def __init__(self, url: str, name: str, window: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.name, self.window, self._clock = name, window, clock
        self._redis = None
        if url.startswith(("redis://", "rediss://")):
            import redis

            self._redis = redis.Redis.from_url(url, socket_timeout=2)
        elif url != "memory://":
            raise ValueError(f"throttle storage must be memory:// or redis://…, not {url!r}")
        self._memory: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def _slot(self, key: str) -> tuple[str, float]:
        start = self._clock() // self.window * self.window
        return f"minsheng:throttle:{self.name}:{key}:{int(start)}", start + self.window

    def count(self, key: str) -> int:
        slot, _ = self._slot(key)
        if self._redis is not None:
            return int(self._redis.get(slot) or 0)
        with self._lock:
            return self._memory.get(slot, (0, 0.0))[0]

    def hit(self, key: str) -> int:
        slot, ends = self._slot(key)
        if self._redis is not None:
            pipe = self._redis.pipeline()
            pipe.incr(slot)
            pipe.expire(slot, self.window + 1)
            return int(pipe.execute()[0])
        with self._lock:
            now = self._clock()
            self._memory = {k: v for k, v in self._memory.items() if v[1] > now}
            hits = self._memory.get(slot, (0, ends))[0] + 1
            self._memory[slot] = (hits, ends)
            return hits

    def clear(self, key: str) -> None:
        slot, _ = self._slot(key)
        if self._redis is not None:
            self._redis.delete(slot)
            return
        with self._lock:
            self._memory.pop(slot, None)
