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
from telegram.ext import ContextTypes

from bot.buttons import OfferedButtons
from bot.core.rasa import RasaClient
from bot.core.turns import Turns
from bot.inbound import InboundStore, StoredUpdate
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
    retry_interval: float = 5.0
    stale_after: float = 60.0  # stored but unfinished this long ago → retried
    max_attempts: int = 20
    rasa_timeout: float = 30.0


class Gateway:
    def __init__(self, settings: Settings, db: Database, options: GatewayOptions) -> None:
        self.settings = settings
        self.db = db
        self.options = options
        self.rasa = RasaClient(settings.rasa_url, settings.rasa_token, options.rasa_timeout)
        # The bot's numeric id (the token's first part) keeps two bots' messages apart.
        self.inbound = InboundStore(db, (settings.telegram_bot_token or "0").split(":")[0])
        self.buttons = OfferedButtons()
        self.photos_dir = Path(settings.photos_dir)
        self._claims: dict[int, StoredUpdate] = {}
        self._deferred: dict[int, str] = {}
        self._turns = Turns()

    @property
    def in_flight_ids(self):
        """A live view of the update ids being processed right now."""
        return self._claims.keys()

    async def claim(self, update: Update) -> bool:
        """Store ``update`` (once) and claim it; False if done before or in flight."""
        update_id = update.update_id
        if update_id in self._claims:
            log.info("update %s is already being processed; skipped", update_id)
            return False
        self._claims[update_id] = StoredUpdate(update_id, "", {}, False, 0)  # hold the claim
        try:
            stored = await asyncio.to_thread(self.inbound.save, update.to_dict())
        except BaseException:
            del self._claims[update_id]
            raise
        if stored.processed:
            del self._claims[update_id]
            log.info("update %s was delivered again; already processed, skipped", update_id)
            return False
        self._claims[update_id] = stored
        return True

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

    async def defer(self, update: Update, error: str) -> None:
        """Keep ``update`` unprocessed so the retry loop answers it later.

        The failure is written at once, before the resident is told: the chat's next
        message waits on the chat lock, and it must find this failure or the resident is
        told a second time.
        """
        if update.update_id in self._deferred:
            return
        self._deferred[update.update_id] = error
        await asyncio.to_thread(self.inbound.mark_failed, self.inbound_key(update), error)

    def inbound_key(self, update: Update) -> str:
        """The stored row's key of a claimed update (computed when not claimed here)."""
        stored = self._claims.get(update.update_id)
        return stored.key if stored and stored.key else self.inbound.key(update.to_dict())

    def is_first_failure(self, update: Update) -> bool:
        stored = self._claims.get(update.update_id)
        return stored is not None and stored.attempts == 0

    def chat_lock(self, chat_id: int) -> asyncio.Lock:
        """One turn at a time per chat, in arrival order."""
        return self._turns.lock(chat_id)

    async def close(self) -> None:
        await self.rasa.close()


def gateway_of(context: ContextTypes.DEFAULT_TYPE) -> Gateway:
    return context.bot_data["gateway"]
