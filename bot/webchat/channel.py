"""The web chat's turn: store the message, then Rasa, then the replies as outbox rows.

The resident's messages are kept in the core inbound store (bot.core.inbound) and taken
in order: ``claim_next`` takes the oldest unanswered one, under a lease renewed while its
turn runs, so two web processes never send the same message to Rasa and a message a
killed process held is taken again once its lease runs out (seconds). A message Rasa did
not answer — Rasa or the action server down, or ``[]`` for a turn — stays unanswered, the
resident is told it is kept (``bot.core.texts.BUSY``), and it is sent again before their
next message, when their page next asks for news (at most every ``retry_every``
seconds), or by the sweep with the page closed. Every turn goes through
``bot.core.replay.take_turn``, keyed by the stored message's key: a message sent before
(a retry, or one a dead process left) is first looked up in Rasa's tracker — answered
from there if Rasa took it, its form put back if a custom action failed.

The web chat is also an adapter of the core outbox sender (bot.core.contract), a pulled
one: the page draws its rows itself, so the sender only starts the rating dialogue that
a ``rating_request`` asks for; its messages wait in the outbox until the page draws them.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import timedelta

from bot.core import replay
from bot.core.contract import Capabilities
from bot.core.inbound import EMPTY_ATTEMPTS, RASA_UNAVAILABLE, InboundStore, Incoming, Stored
from bot.core.outbox import SENT, Due, Outcome
from bot.core.rasa import RasaClient, RasaUnavailable
from bot.core.texts import BUSY, NO_REPLY
from bot.core.turns import TurnLock, Turns
from bot.webchat.store import (
    ChatMessage,
    WebChatStore,
    first_web_id,
    recipient_of,
    sender_of,
)
from minsheng.clock import utcnow
from minsheng.db import Database
from minsheng.enums import Channel
from minsheng.settings import Settings

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 20  # a message failing for another reason than Rasa is left after this


class WebChat:
    channel = Channel.web
    # Buttons are pressable; photos and the browser's position are sent from the page;
    # notices reach an open page at once (SSE) and a closed one when it is opened again.
    capabilities = Capabilities(buttons="inline", photos=True, location=True, push=True)
    pulled = True  # the page draws its outbox rows (bot.core.outbox.OutboxSender)
    per_recipient_interval = 0.0

    def __init__(self, settings: Settings, db: Database, retry_every: float = 10.0,
                 rasa_timeout: float = 30.0) -> None:
        self.settings = settings
        self.store = WebChatStore(db)
        self.inbox = InboundStore(db, Channel.web)
        self.retry_every = retry_every
        self.rasa_timeout = rasa_timeout
        # The serving app's client (``serving``): the outbox sender's (the rating dialogue)
        # and, on the app's event loop, every turn's — kept connections to Rasa.
        self.rasa: RasaClient | None = None
        self._serving_loop: asyncio.AbstractEventLoop | None = None
        self._turns = Turns(settings.shared_state_url, "web")
        self._next_retry: dict[str, float] = {}

    @contextlib.contextmanager
    def serving(self, rasa: RasaClient):
        """While the app serves on this event loop, ``rasa`` carries its turns and starts
        the rating dialogue (a test may serve the same app twice: the previous comes back)."""
        previous = self.rasa, self._serving_loop
        self.rasa, self._serving_loop = rasa, asyncio.get_running_loop()
        try:
            yield
        finally:
            self.rasa, self._serving_loop = previous

    def _rasa(self) -> contextlib.AbstractAsyncContextManager[RasaClient]:
        """The serving app's client for a turn on its event loop (a new connection per turn
        was a fifth of the web app's CPU); otherwise — a test driving the channel on its
        own loop — a client for this turn alone."""
        if self.rasa is not None and self._serving_loop is asyncio.get_running_loop():
            return contextlib.nullcontext(self.rasa)
        return RasaClient(self.settings.rasa_url, self.settings.rasa_token, self.rasa_timeout)

    def _lock(self, external_id: str) -> TurnLock:
        return self._turns.lock(external_id)

    async def close(self) -> None:
        """Let go of this event loop's connection to the shared store (turn locks)."""
        await self._turns.close()

    async def send(self, external_id: str, rasa_text: str, shown: str,
                   keep_offers: bool = False, extra: dict | None = None) -> list[ChatMessage]:
        """Store the message, then answer everything this resident has waiting."""
        resident_id = await asyncio.to_thread(self.store.resident_id, external_id, True)
        return await self._send(external_id, resident_id, rasa_text, shown, keep_offers, extra)

    async def _send(self, external_id: str, resident_id: int, rasa_text: str, shown: str,
                    keep_offers: bool = False, extra: dict | None = None) -> list[ChatMessage]:
        # What goes back is delivered already: every message of a turn is made by
        # ``store.answer``, which marks it sent and puts its buttons on offer.
        payload = {"rasa": rasa_text, "text": shown, "keep_offers": keep_offers,
                   **(extra or {})}
        stored = await asyncio.to_thread(
            self.inbox.add, Incoming(uuid.uuid4().hex, sender_of(external_id), payload))
        async with self._lock(external_id):
            return await self._work(external_id, resident_id, fresh=stored.key)

    async def press(self, external_id: str, payload: str) -> list[ChatMessage] | None:
        """A button: sent only if offered to this resident; None if it was not."""
        resident_id, title = await asyncio.to_thread(self.store.offered_to, external_id,
                                                     payload)
        if resident_id is None:
            return None
        if title is None:
            log.warning("refused payload %r from web resident %s: not offered", payload,
                        resident_id)
            return None
        return await self._send(external_id, resident_id, payload, title)

    async def messages(self, external_id: str, after: int) -> list[ChatMessage]:
        """Bot messages after ``after`` (a moment's work first if something is waiting)."""
        resident_id = await self._resident_caught_up(external_id)
        if resident_id is None:
            return []
        return await asyncio.to_thread(self.store.messages_after, resident_id, after)

    async def history(self, external_id: str) -> tuple[list[ChatMessage], list[str]]:
        """The whole conversation and the payloads on offer now."""
        resident_id = await self._resident_caught_up(external_id)
        if resident_id is None:
            return [], []
        messages = await asyncio.to_thread(self.store.history, resident_id)
        return messages, await asyncio.to_thread(self.store.offers, resident_id)

    async def _resident_caught_up(self, external_id: str) -> int | None:
        resident_id = await asyncio.to_thread(self.store.resident_id, external_id)
        if resident_id is not None and await asyncio.to_thread(self.inbox.has_unanswered,
                                                               sender_of(external_id)):
            await self._catch_up(external_id, resident_id)
        return resident_id

    async def sweep_forever(self, interval: float = 15.0, stale_after: float = 10.0) -> None:
        """Forever: answer what waits for residents whose page is closed — a message kept
        while Rasa was down, or one a killed process held — by the time they come back."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep(stale_after)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("web chat sweep failed; trying again in %ss", interval)

    async def sweep(self, stale_after: float = 10.0) -> None:
        stale_before = utcnow() - timedelta(seconds=stale_after)
        waiting = await asyncio.to_thread(self.inbox.unprocessed, stale_before, MAX_ATTEMPTS)
        for sender in dict.fromkeys(s.sender for s in waiting if s.sender):
            external_id = sender.split(":", 1)[1]
            resident_id = await asyncio.to_thread(self.store.resident_id, external_id)
            if resident_id is not None:
                await self._catch_up(external_id, resident_id)

    async def _catch_up(self, external_id: str, resident_id: int) -> None:
        """Retries, unless this resident's turn is running or was retried lately."""
        lock = self._lock(external_id)
        if lock.locked() or time.monotonic() < self._next_retry.get(external_id, 0.0):
            return
        async with lock:
            await self._work(external_id, resident_id, fresh=None)

    async def _work(self, external_id: str, resident_id: int,
                    fresh: str | None) -> list[ChatMessage]:
        """The resident's unanswered messages, oldest first, each claimed before its turn;
        ``fresh``: the key of the message the resident just sent, answered in the response
        (or the resident told it is kept)."""
        out: list[ChatMessage] = []
        answered_fresh = False
        async with self._rasa() as rasa:
            while True:
                held = await asyncio.to_thread(self.inbox.claim_next, sender_of(external_id))
                if held is None:  # none left, or the oldest is held by another process
                    break
                answered = await self._turn(rasa, external_id, resident_id, held)
                if answered is None:
                    break
                out += answered
                if held.key == fresh:
                    # Older ones went first; a newer one has its own send waiting for this
                    # lock (or the sweep): no claim that finds nothing, a transaction a turn.
                    answered_fresh = True
                    break
        if fresh is not None and not answered_fresh:
            out.append(await asyncio.to_thread(self.store.tell, resident_id, BUSY))
        return out

    async def _turn(self, rasa: RasaClient, external_id: str, resident_id: int,
                    held: Stored) -> list[ChatMessage] | None:
        """One claimed message through Rasa; None if it was not answered (kept for retry).
        A message a process took before is looked up in Rasa's tracker first."""
        metadata = {"channel": "web", "message_id": held.key}
        async with self.inbox.holding(held):
            try:
                replies = await replay.take_turn(rasa, sender_of(external_id), held.key,
                                                 str(held.payload.get("rasa") or ""),
                                                 metadata, held.seen)
            except RasaUnavailable as error:
                log.warning("Rasa unavailable for web message %s: %s", held.key, error)
                await asyncio.to_thread(self.inbox.mark_failed, held.key,
                                        f"{RASA_UNAVAILABLE}{error}")
                self._next_retry[external_id] = time.monotonic() + self.retry_every
                return None
            if not replies:
                return await self._no_reply(external_id, resident_id, held)
            self._next_retry.pop(external_id, None)
            return await asyncio.to_thread(
                self.store.answer, resident_id, replies, bool(held.payload.get("keep_offers")),
                answered=self.inbox.answered(held.key),
                unless=self.inbox.answered_already(held.key))

    async def _no_reply(self, external_id: str, resident_id: int,
                        held: Stored) -> list[ChatMessage] | None:
        """Rasa answered nothing: a custom action failed (the action server is down) and
        Rasa dropped its events. Kept for retry; after ``EMPTY_ATTEMPTS`` given up and the
        resident asked to send it again."""
        log.warning("Rasa gave no reply to web message %s (attempt %s)", held.key,
                    held.attempts + 1)
        if held.attempts + 1 >= EMPTY_ATTEMPTS:
            await asyncio.to_thread(self.inbox.give_up, held.key, replay.EMPTY_TURN)
            return [await asyncio.to_thread(self.store.tell, resident_id, NO_REPLY)]
        await asyncio.to_thread(self.inbox.mark_failed, held.key, replay.EMPTY_TURN)
        self._next_retry[external_id] = time.monotonic() + self.retry_every
        return None

    # -- the core outbox sender's adapter (bot.core.contract.Adapter) ----------------------
    def address(self, uow, recipient: str) -> tuple[int, str] | None:
        """``resident:<id>`` → (resident id, their first web-chat id): the conversation
        their pages draw and the Rasa conversation a rating starts in."""
        kind, _, number = recipient.partition(":")
        if kind != "resident" or not number.isdigit():
            return None  # staff are not reached on the web chat (console, API)
        external_id = first_web_id(uow.session, int(number))
        return (int(number), external_id) if external_id else None

    def sender_id(self, address: tuple[int, str]) -> str:
        return sender_of(address[1])

    def reply_recipient(self, address: tuple[int, str]) -> str:
        return recipient_of(address[0])

    async def deliver(self, due: Due) -> Outcome:
        """Nothing to push: the row is in the outbox, where the page draws it (and marks
        it delivered, its buttons on offer)."""
        return SENT

    def mark_unreachable(self, uow, address, now) -> None:
        """A page cannot refuse a message."""
