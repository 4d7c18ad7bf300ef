"""Counters of attempts per key over a sliding window: in memory, or in Redis when shared.

Used to slow down password guessing (and, later, floods on the chat). The ``limits``
package would be the library for this, but every release of it needs a newer
``packaging`` than Rasa 3.6 allows, so this is the small part of it we need.
Where the counts live is the shared-state setting (``minsheng.shared_state``): ``memory://``
(one process) or ``redis://host:port/db`` (every replica sees the same counts).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from minsheng.shared_state import redis_client


def now() -> float:
    """Wall-clock seconds; counters of every process on every host agree on windows."""
    return time.time()


class Counter:
    """How many times ``key`` was hit in the current window of ``window`` seconds."""

    def __init__(self, url: str, name: str, window: int,
                 clock: Callable[[], float] | None = None) -> None:
        self.name, self.window = name, window
        self._clock = clock or (lambda: now())  # looked up per call: tests can hold time
        self._redis = redis_client(url)
        self._memory: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def _slots(self, key: str) -> tuple[str, str, float]:
        """This window's slot, the previous one, and how much of this window has passed."""
        now = self._clock()
        index = int(now // self.window)
        passed = now / self.window - index
        name = f"minsheng:throttle:{self.name}:{key}"
        return f"{name}:{index}", f"{name}:{index - 1}", passed

    def count(self, key: str) -> float:
        """Hits in the last ``window`` seconds, estimated from two fixed windows (the
        previous one weighted by how much of it still lies in the sliding window), so that
        the count does not fall to zero at a window boundary."""
        current, previous, passed = self._slots(key)
        return self._get(current) + self._get(previous) * (1.0 - passed)

    def hit(self, key: str) -> None:
        current, _, _ = self._slots(key)
        if self._redis is not None:
            pipe = self._redis.pipeline()
            pipe.incr(current)
            pipe.expire(current, 2 * self.window + 1)
            pipe.execute()
            return
        with self._lock:
            now = self._clock()
            self._memory = {k: v for k, v in self._memory.items() if v[1] > now}
            hits = self._memory.get(current, (0, 0.0))[0] + 1
            self._memory[current] = (hits, now + 2 * self.window)

    def clear(self, key: str) -> None:
        current, previous, _ = self._slots(key)
        if self._redis is not None:
            self._redis.delete(current, previous)
            return
        with self._lock:
            self._memory.pop(current, None)
            self._memory.pop(previous, None)

    def _get(self, slot: str) -> int:
        if self._redis is not None:
            return int(self._redis.get(slot) or 0)
        with self._lock:
            return self._memory.get(slot, (0, 0.0))[0]
