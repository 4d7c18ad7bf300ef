"""One turn at a time per conversation, in arrival order, on every channel.

Rasa must see a resident's messages in the order they were sent; each channel runs a
turn inside ``turns.lock(conversation)``. Inside one process an asyncio lock keeps the
waiting turns in arrival order. With a shared store (``shared_state_url`` = redis://…,
see minsheng.shared_state) the turn also holds the conversation's lock in Redis, so two
gateways or two web apps never run turns of one conversation at the same time. That lock
is a lease: renewed every third of ``lease`` while the turn runs, released when it ends,
and, when its holder dies, free again ``lease`` seconds later. Between processes the lock
keeps turns apart but keeps no queue (a process with several turns of one conversation
waiting may run them all before another's); which message goes first is the inbound
store's order (bot.core.inbound: ``claim_next`` takes a sender's oldest message). With the
store unreachable a turn fails to start (and is retried as a failed turn is). A lock lives
only while someone holds or waits for it, so idle conversations cost nothing.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Hashable

from minsheng.shared_state import MEMORY, async_redis_client, is_shared

log = logging.getLogger(__name__)

LEASE = 15.0  # seconds; as long as an inbound message's claim (bot.core.inbound.LEASE)
POLL = 0.05  # seconds between two looks at a lock another process holds


class TurnLock:
    """``async with`` it to run one turn of a conversation; ``locked()`` says whether a
    turn of it runs or waits in this process."""

    def __init__(self, turns: Turns, key: str) -> None:
        self._turns, self._key = turns, key
        self._local = asyncio.Lock()
        self._shared = None  # the Redis lock while this process holds it
        self._renewer: asyncio.Task | None = None

    def locked(self) -> bool:
        return self._local.locked()

    async def __aenter__(self) -> None:
        await self._local.acquire()
        try:
            if self._turns.shared:
                self._shared = await self._turns.hold(self._key)
                self._renewer = asyncio.create_task(self._renew_forever(self._shared),
                                                    name=f"turn-lease-{self._key}")
        except BaseException:
            self._shared = None
            self._local.release()
            raise

    async def __aexit__(self, *exc_info) -> None:
        try:
            if self._renewer is not None:
                self._renewer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._renewer
            if self._shared is not None:
                await self._turns.let_go(self._shared, self._key)
        finally:
            self._shared, self._renewer = None, None
            self._local.release()

    async def _renew_forever(self, shared) -> None:
        from redis.exceptions import LockNotOwnedError

        while True:
            await asyncio.sleep(self._turns.lease / 3)
            try:
                await shared.reacquire()
            except LockNotOwnedError:
                # Only after this process stalled longer than the lease: another may run a
                # turn of this conversation now; the inbound claims still keep each message
                # answered once.
                log.error("the turn lock of %s ran out while its turn was running",
                          self._key)
                return
            except Exception:  # Redis unreachable for a moment: the next round tries again
                log.exception("could not renew the turn lock of %s", self._key)


class Turns:
    """The turn locks of one channel; ``name`` keeps channels apart in the shared store."""

    def __init__(self, shared_state_url: str = MEMORY, name: str = "turns",
                 lease: float = LEASE) -> None:
        self.shared = is_shared(shared_state_url)
        self.lease = lease
        self._url, self._name = shared_state_url, name
        self._locks: weakref.WeakValueDictionary[Hashable, TurnLock] = (
            weakref.WeakValueDictionary())
        # A Redis asyncio client belongs to the event loop it first ran on; a channel used
        # from two loops (a test client's, the server's) gets one per loop.
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, object] = (
            weakref.WeakKeyDictionary())

    def lock(self, conversation: Hashable) -> TurnLock:
        """The lock of one conversation (a chat id, an openid, a web-chat id)."""
        lock = self._locks.get(conversation)
        if lock is None:
            lock = TurnLock(self, f"minsheng:turn:{self._name}:{conversation}")
            self._locks[conversation] = lock
        return lock

    async def hold(self, key: str):
        """Wait for the conversation's lock in Redis and take it for one lease."""
        from redis.asyncio.lock import Lock

        shared = Lock(self._client(), key, timeout=self.lease, sleep=POLL,
                      thread_local=False)  # one token per holder, not per thread
        await shared.acquire()
        return shared

    async def let_go(self, shared, key: str) -> None:
        """Release the lock; never fail the turn that just ended over it: a lock not
        released runs out by itself within a lease."""
        from redis.exceptions import LockError, RedisError

        try:
            await shared.release()
        except LockError:  # the lease ran out first (logged when renewing failed)
            log.warning("the turn lock of %s was no longer held when its turn ended", key)
        except RedisError as error:  # the store went away during the turn
            log.warning("could not release the turn lock of %s (%s); it runs out within "
                        "%ss", key, error, self.lease)

    async def close(self) -> None:
        """Close this event loop's connection to the shared store (at shutdown)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    def _client(self):
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = async_redis_client(self._url)
        return client
