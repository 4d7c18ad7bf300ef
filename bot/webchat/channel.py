"""The web chat's turn: store the message, then Rasa, then the replies as outbox rows.

One resident's messages go to Rasa one at a time and in order (a lock per resident):
a message Rasa did not answer — Rasa or the action server down, or ``[]`` for a turn —
stays unprocessed, the resident is told it is kept, and it is sent again before their next
message, or when their page next asks for news (at most every ``retry_every`` seconds).
Every turn goes through ``bot.core.replay.take_turn``, keyed by the stored message's id: a
message sent before (a retry, or one a dead process left) is first looked up in Rasa's
tracker — answered from there if Rasa took it, its form put back if a custom action failed.
Notices that start a conversation (the rating after 办结) are triggered the same way.
"""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

from bot.core import replay
from bot.core.contract import Capabilities
from bot.core.rasa import RasaClient, RasaUnavailable
from bot.core.turns import Turns
from bot.inbound import RASA_UNAVAILABLE
from bot.webchat.store import ChatMessage, Pending, Trigger, WebChatStore, sender_of
from minsheng.clock import utcnow
from minsheng.db import Database
from minsheng.settings import Settings

log = logging.getLogger(__name__)

KEPT = "机器人暂时无法回复。您的消息已经保存，恢复后会自动回复您，不用重发。"
NOT_UNDERSTOOD = "抱歉，这条消息暂时没能处理。请换个说法再发一次，或拨打社区电话。"
NO_REPLY = "no reply from Rasa (is the action server down?)"
EMPTY_ATTEMPTS = replay.EMPTY_ATTEMPTS


class WebChat:
    # Buttons are pressable; photos and the browser's position are sent from the page;
    # notices reach an open page at once (SSE) and a closed one when it is opened again.
    capabilities = Capabilities(buttons="inline", photos=True, location=True, push=True)

    def __init__(self, settings: Settings, db: Database, retry_every: float = 10.0,
                 rasa_timeout: float = 30.0) -> None:
        self.settings = settings
        self.store = WebChatStore(db)
        self.retry_every = retry_every
        self.rasa_timeout = rasa_timeout
        self._turns = Turns()
        self._next_retry: dict[str, float] = {}

    def _rasa(self) -> RasaClient:
        return RasaClient(self.settings.rasa_url, self.settings.rasa_token, self.rasa_timeout)

    def _lock(self, external_id: str) -> asyncio.Lock:
        return self._turns.lock(external_id)

    async def send(self, external_id: str, rasa_text: str, shown: str,
                   keep_offers: bool = False, extra: dict | None = None) -> list[ChatMessage]:
        """Store the message, then answer everything this resident has waiting."""
        resident_id = await asyncio.to_thread(self.store.resident_id, external_id, True)
        new_id = await asyncio.to_thread(self.store.save_inbound, external_id, rasa_text,
                                         shown, keep_offers, extra)
        async with self._lock(external_id):
            out = await self._work(external_id, resident_id, fresh=new_id)
        await asyncio.to_thread(self.store.mark_delivered, resident_id, [m.id for m in out])
        return out

    async def press(self, external_id: str, payload: str) -> list[ChatMessage] | None:
        """A button: sent only if offered to this resident; None if it was not."""
        resident_id = await asyncio.to_thread(self.store.resident_id, external_id)
        if resident_id is None:
            return None
        title = await asyncio.to_thread(self.store.offered_title, resident_id, payload)
        if title is None:
            log.warning("refused payload %r from web resident %s: not offered", payload,
                        resident_id)
            return None
        return await self.send(external_id, payload, title)

    async def messages(self, external_id: str, after: int) -> list[ChatMessage]:
        """Bot messages after ``after`` (a moment's work first if something is waiting)."""
        resident_id, due = await asyncio.to_thread(self.store.lookup, external_id)
        if resident_id is None:
            return []
        if due:
            await self._catch_up(external_id, resident_id)
        return await asyncio.to_thread(self.store.messages_after, resident_id, after)

    async def history(self, external_id: str) -> tuple[list[ChatMessage], list[str]]:
        """The whole conversation and the payloads on offer now."""
        resident_id, due = await asyncio.to_thread(self.store.lookup, external_id)
        if resident_id is None:
            return [], []
        if due:
            await self._catch_up(external_id, resident_id)
        messages = await asyncio.to_thread(self.store.history, resident_id)
        return messages, await asyncio.to_thread(self.store.offers, resident_id)

    async def sweep_forever(self, interval: float = 15.0, stale_after: float = 60.0) -> None:
        """Forever: answer what waits for residents whose page is closed, so a message kept
        while Rasa was down is answered (and a rating started) by the time they come back."""
        while True:
            await asyncio.sleep(interval)
            try:
                stale_before = utcnow() - timedelta(seconds=stale_after)
                for external_id, resident_id in await asyncio.to_thread(self.store.waiting,
                                                                        stale_before):
                    await self._catch_up(external_id, resident_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("web chat sweep failed; trying again in %ss", interval)

    async def _catch_up(self, external_id: str, resident_id: int) -> None:
        """Triggers and retries, unless this resident's turn is running or retried lately."""
        lock = self._lock(external_id)
        if lock.locked() or time.monotonic() < self._next_retry.get(external_id, 0.0):
            return
        async with lock:
            await self._work(external_id, resident_id, fresh=None)

    async def _work(self, external_id: str, resident_id: int,
                    fresh: int | None) -> list[ChatMessage]:
        """Triggers, then the pending messages in order; ``fresh``: the id of the message
        the resident just sent (never sent to Rasa before), answered in the response."""
        triggers = await asyncio.to_thread(self.store.claim_triggers, resident_id)
        pending = await asyncio.to_thread(self.store.pending, external_id)
        if not (triggers or pending):
            return []
        out: list[ChatMessage] = []
        async with self._rasa() as rasa:
            for trigger in triggers:
                out += await self._trigger(rasa, external_id, resident_id, trigger)
            for message in pending:
                answered = await self._turn(rasa, external_id, resident_id, message,
                                            seen=message.id != fresh)
                if answered is None:
                    if fresh is not None:
                        out.append(await asyncio.to_thread(self.store.tell, resident_id, KEPT))
                    break
                out += answered
        return out

    async def _trigger(self, rasa: RasaClient, external_id: str, resident_id: int,
                       trigger: Trigger) -> list[ChatMessage]:
        """A notice that starts a conversation (the rating): Rasa's opening messages."""
        try:
            started = await rasa.trigger_intent(sender_of(external_id), trigger.intent,
                                                trigger.entities)
        except RasaUnavailable as error:
            log.warning("Rasa unavailable for web notice %s: %s", trigger.id, error)
            await asyncio.to_thread(self.store.trigger_failed, trigger.id,
                                    f"{RASA_UNAVAILABLE}{error}")
            self._next_retry[external_id] = time.monotonic() + self.retry_every
            return []
        if not started:  # the action server is down: the form could not ask
            await asyncio.to_thread(self.store.trigger_failed, trigger.id, NO_REPLY)
            self._next_retry[external_id] = time.monotonic() + self.retry_every
            return []
        return await asyncio.to_thread(self.store.triggered, trigger.id, resident_id, started)

    async def _turn(self, rasa: RasaClient, external_id: str, resident_id: int,
                    message: Pending, seen: bool) -> list[ChatMessage] | None:
        """One stored message through Rasa; None if it was not answered (kept for retry).
        ``seen``: it may have been sent before, so Rasa's tracker is read first."""
        metadata = {"channel": "web", "message_id": message.external_id}
        try:
            replies = await replay.take_turn(rasa, sender_of(external_id), message.external_id,
                                             message.rasa_text, metadata, seen)
        except RasaUnavailable as error:
            log.warning("Rasa unavailable for web message %s: %s", message.id, error)
            await asyncio.to_thread(self.store.fail, message.id, f"{RASA_UNAVAILABLE}{error}")
            self._next_retry[external_id] = time.monotonic() + self.retry_every
            return None
        if not replies:
            # Rasa answers every turn; none means a custom action failed (the action
            # server is down) and Rasa dropped its events.
            log.warning("Rasa gave no reply to web message %s", message.id)
            give_up = message.attempts + 1 >= EMPTY_ATTEMPTS
            await asyncio.to_thread(self.store.fail, message.id, NO_REPLY, give_up)
            if give_up:
                return [await asyncio.to_thread(self.store.tell, resident_id, NOT_UNDERSTOOD)]
            self._next_retry[external_id] = time.monotonic() + self.retry_every
            return None
        self._next_retry.pop(external_id, None)
        return await asyncio.to_thread(self.store.answer, message.id, resident_id, replies,
                                       message.keep_offers)
