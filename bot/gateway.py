"""The gateway's shared runtime: settings, database, Rasa, stores, in-flight updates.

One instance per application, kept in ``application.bot_data["gateway"]``; handlers get
it with ``gateway_of(context)``.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import render
from bot.buttons import OfferedButtons
from bot.core.inbound import EMPTY_ATTEMPTS, Stored, backoff
from bot.core.rasa import RasaClient
from bot.core.turns import TurnLock, Turns
from bot.inbound import TelegramInbox
from minsheng.db import Database
from minsheng.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class GatewayOptions:
    """Tunables; the defaults suit production, tests shorten the intervals."""

    max_rasa_text: int = 1500  # longer texts are stored in full, trimmed for Rasa
    max_photo_mb: int = 10
    concurrent_updates: int = 64
    overall_max_rate: float = 30.0  # Telegram: ~30 messages/s per bot
    per_chat_interval: float = 1.0  # Telegram: ~1 message/s per chat (outbox pacing)
    outbox_interval: float = 1.0
    outbox_batch: int = 50
    retry_interval: float = 5.0  # also the first back-off; it doubles up to max_backoff
    max_backoff: float = 15.0
    stale_after: float = 10.0  # stored this long ago and never claimed → retried
    claim_lease: float = 15.0  # renewed every third of it while the turn runs
    max_attempts: int = 20
    empty_attempts: int = EMPTY_ATTEMPTS  # every channel's (~60 s of back-off)
    # Longer than the action server's wait for a busy SQLite database (30 s), so a turn
    # that waits for the lock ends here with Rasa's answer rather than a timeout.
    rasa_timeout: float = 45.0
    wait_notice: float = 8.0  # no answer by then: the resident is told to wait a moment


class Gateway:
    def __init__(self, settings: Settings, db: Database, options: GatewayOptions) -> None:
        self.settings = settings
        self.db = db
        self.options = options
        self.rasa = RasaClient(settings.rasa_url, settings.rasa_token, options.rasa_timeout)
        # The bot's numeric id (the token's first part) keeps two bots' messages apart.
        self.inbound = TelegramInbox(db, (settings.telegram_bot_token or "0").split(":")[0])
        self.buttons = OfferedButtons(settings.shared_state_url)
        self.photos_dir = Path(settings.photos_dir)
        self._claims: dict[int, Stored] = {}
        self._deferred: dict[int, str] = {}
        self._turns = Turns(settings.shared_state_url, "telegram")
        self._told_wait: set[int] = set()  # update ids whose resident was told 稍等
        self.bot = None  # set by build_application: telling a resident to wait needs it

    @property
    def in_flight_ids(self):
        """A live view of the update ids being processed right now."""
        return self._claims.keys()

    async def claim(self, update: Update) -> bool:
        """Store ``update`` (once) and claim it; False if done before, in flight (here or
        in another process) or backing off."""
        update_id = update.update_id
        if update_id in self._claims:
            log.info("update %s is already being processed; skipped", update_id)
            return False
        self._claims[update_id] = Stored("", {}, False, 0)  # hold the claim
        try:
            # a locked database (SQLite's writer busy) can hold this for up to 30 s
            stored = await self.patiently(asyncio.to_thread(self.inbound.save,
                                                            update.to_dict()), update)
            claimed = None if stored.processed else await self.patiently(asyncio.to_thread(
                self.inbound.claim, stored.key, self.options.claim_lease), update)
        except BaseException:
            del self._claims[update_id]  # told 稍等 stays remembered: it will be retried
            raise
        if claimed is None:
            del self._claims[update_id]
            self._told_wait.discard(update_id)
            log.info("update %s is processed, claimed elsewhere or waiting for its retry; "
                     "skipped", update_id)
            return False
        self._claims[update_id] = claimed
        return True

    async def keep_leases(self) -> None:
        """Forever: renew the leases of the updates in flight here."""
        while True:
            await asyncio.sleep(self.options.claim_lease / 3)
            keys = [s.key for s in list(self._claims.values()) if s.key]
            try:
                await asyncio.to_thread(self.inbound.renew, keys, self.options.claim_lease)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not renew the leases of %s updates", len(keys))

    async def finish(self, update: Update) -> None:
        """Record the outcome of a claimed update: processed, or kept for retry."""
        update_id = update.update_id
        deferred = self._deferred.pop(update_id, None) is not None
        try:
            stored = self._claims.get(update_id)
            if not deferred and stored is not None:  # defer() recorded a deferred one
                await asyncio.to_thread(self.inbound.mark_processed, stored.key)
        finally:
            self._claims.pop(update_id, None)
            self._told_wait.discard(update_id)

    async def patiently(self, work, *updates: Update, bot=None):
        """Await ``work``; when it takes longer than ``wait_notice`` the residents who sent
        ``updates`` are told 稍等."""
        task = asyncio.ensure_future(work)
        done, _ = await asyncio.wait({task}, timeout=self.options.wait_notice)
        if not done:
            await self.tell_wait(updates, bot)
        return await task

    async def tell_wait(self, updates, bot=None) -> None:
        """稍等 to the residents who sent ``updates``: once per update, and not on a retry
        (they were told then)."""
        bot = bot or self.bot
        if len(self._told_wait) > 10000:  # updates that never finished here: forget them
            self._told_wait.clear()
        for update in updates if bot is not None else ():
            chat = update.effective_chat
            if (chat is None or chat.type != "private" or update.update_id in self._told_wait
                    or self.attempts(update) > 0):
                continue
            self._told_wait.add(update.update_id)
            try:
                await bot.send_message(chat.id, render.WAIT)
            except TelegramError as error:
                log.info("could not tell chat %s to wait: %s", chat.id, error)

    async def defer(self, update: Update, error: str) -> None:
        """Keep ``update`` unprocessed so the retry loop answers it later, after a
        back-off that doubles with each failed attempt.

        The failure is written at once, before the resident is told: the chat's next
        message waits on the chat lock, and it must find this failure or the resident is
        told a second time.
        """
        if update.update_id in self._deferred:
            return
        self._deferred[update.update_id] = error
        wait = backoff(self.attempts(update), self.options.retry_interval,
                       self.options.max_backoff)
        await asyncio.to_thread(self.inbound.mark_failed, self.inbound_key(update), error,
                                wait)

    async def give_up(self, update: Update, error: str) -> None:
        """Done with ``update`` without an answer (the resident is told): never retried."""
        self._deferred[update.update_id] = error
        await asyncio.to_thread(self.inbound.give_up, self.inbound_key(update), error)

    def attempts(self, update: Update) -> int:
        """Attempts recorded before this one."""
        stored = self._claims.get(update.update_id)
        return stored.attempts if stored else 0

    def seen(self, update: Update) -> bool:
        """Whether a process took this update before: Rasa may have had its turn."""
        stored = self._claims.get(update.update_id)
        return stored is not None and stored.seen

    def inbound_key(self, update: Update) -> str:
        """The stored row's key of a claimed update (computed when not claimed here)."""
        stored = self._claims.get(update.update_id)
        return stored.key if stored and stored.key else self.inbound.key(update.to_dict())

    def is_first_failure(self, update: Update) -> bool:
        stored = self._claims.get(update.update_id)
        return stored is not None and stored.attempts == 0

    def chat_lock(self, chat_id: int) -> TurnLock:
        """One turn at a time per chat (in every gateway sharing the state), in arrival
        order here."""
        return self._turns.lock(chat_id)

    async def close(self) -> None:
        await self.rasa.close()
        await self._turns.close()


def gateway_of(context: ContextTypes.DEFAULT_TYPE) -> Gateway:
    return context.bot_data["gateway"]
