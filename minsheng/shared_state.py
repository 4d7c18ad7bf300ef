"""Where the state that several replicas must share lives: this process, or Redis.

One setting, ``shared_state_url`` (``MINSHENG_SHARED_STATE_URL``), says where: ``memory://``
(the default; one web app and one gateway, nothing else to run) or
``redis://host:port/db`` (several web apps and gateways see the same rate-limit counters,
button tokens and chat locks). The users: ``minsheng.throttle``, ``bot.buttons``,
``bot.wechat.render.OfferedOptions`` and ``bot.core.turns``.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict

log = logging.getLogger(__name__)

MEMORY = "memory://"
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
# A shared store that does not answer within this many seconds is an error, not a hang:
# these calls sit in request and turn paths.
SOCKET_TIMEOUT = 2.0


def check_url(url: str) -> str:
    """``url`` if it names a store we can use; ValueError otherwise."""
    if url != MEMORY and not url.startswith(REDIS_SCHEMES):
        raise ValueError(f"expected {MEMORY} or redis://host:port/db, not {url!r}")
    return url


def is_shared(url: str) -> bool:
    return check_url(url) != MEMORY


def redis_client(url: str):
    """A blocking Redis client for ``url``; None for ``memory://``."""
    if not is_shared(url):
        return None
    import redis  # only replicas that share state need the package loaded

    return redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT,
                                socket_connect_timeout=SOCKET_TIMEOUT)


def async_redis_client(url: str):
    """An asyncio Redis client for ``url`` (bound to the event loop that first uses it)."""
    check_url(url)
    import redis.asyncio

    return redis.asyncio.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT,
                                        socket_connect_timeout=SOCKET_TIMEOUT)


class ExpiringMap:
    """JSON values by key that are forgotten ``ttl`` seconds after they were put: in this
    process's memory (at most ``capacity``, the oldest dropped first), and with a shared
    store also in Redis under ``minsheng:<namespace>:<key>``, where every replica reads
    what any one put. While Redis does not answer, this process goes on with its own copy
    (as with memory://) rather than failing the reply or the turn that needs the value; a
    value Redis answers "none" for is none (another replica may have withdrawn it)."""

    def __init__(self, url: str, namespace: str, ttl: float, capacity: int = 100_000) -> None:
        self.namespace, self.ttl, self._capacity = namespace, ttl, capacity
        self._redis = redis_client(url)
        self._memory: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()  # the gateway also calls from worker threads
        self._unreachable: tuple[type[Exception], ...] = ()
        if self._redis is not None:
            from redis.exceptions import RedisError

            self._unreachable = (RedisError,)

    def put(self, key: str, value) -> None:
        data = json.dumps(value, ensure_ascii=False)
        with self._lock:
            self._memory[key] = (time.monotonic() + self.ttl, data)
            self._memory.move_to_end(key)
            while len(self._memory) > self._capacity:
                self._memory.popitem(last=False)
        if self._redis is not None:
            try:
                self._redis.set(self._name(key), data, px=int(self.ttl * 1000))
            except self._unreachable as error:
                log.warning("shared store unreachable, %s kept here only: %s",
                            self._name(key), error)

    def get(self, key: str):
        """The value put under ``key``, or None when there is none or it expired."""
        if self._redis is not None:
            try:
                data = self._redis.get(self._name(key))
                return None if data is None else json.loads(data)
            except self._unreachable as error:
                log.warning("shared store unreachable, %s read from here: %s",
                            self._name(key), error)
        with self._lock:
            entry = self._memory.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._memory[key]
                return None
            return json.loads(entry[1])

    def delete(self, key: str) -> None:
        with self._lock:
            self._memory.pop(key, None)
        if self._redis is not None:
            try:
                self._redis.delete(self._name(key))
            except self._unreachable as error:
                log.warning("shared store unreachable, %s not deleted there: %s",
                            self._name(key), error)

    def _name(self, key: str) -> str:
        return f"minsheng:{self.namespace}:{key}"
