"""Telegram's side of the core inbound store (bot/core/inbound.py): what an update's key
is, and the retry loop that feeds kept updates through the application again.

An update is known by what it carries — this bot's message in its chat, or the button
press — not by its ``update_id``: Telegram starts update ids afresh after a quiet week,
and a second bot (or gateway) on the same database has ids of its own. A re-delivered
update finds its row already processed and is skipped; an update whose processing failed
(Rasa down, a crash) stays unprocessed and the retry loop feeds it through the
application again until it is answered. Claims, leases and back-off are the core's.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Container
from datetime import timedelta

from sqlalchemy import select

from bot.core.inbound import InboundStore, Incoming, Stored
from minsheng.clock import utcnow
from minsheng.db import Database
from minsheng.enums import Channel
from minsheng.models import InboundMessage

log = logging.getLogger(__name__)


def dedupe_key(bot_id: str, update: dict) -> str:
    """``<bot>:m:<chat>:<message>`` for a message, ``…:e:…:<edit date>`` for an edit,
    ``<bot>:c:<id>`` for a button press; the update id only for anything else."""
    for field, tag in (("message", "m"), ("edited_message", "e")):
        message = update.get(field)
        if message:
            key = f"{bot_id}:{tag}:{message['chat']['id']}:{message['message_id']}"
            return f"{key}:{message.get('edit_date', 0)}" if tag == "e" else key
    if update.get("callback_query"):
        return f"{bot_id}:c:{update['callback_query']['id']}"
    return f"{bot_id}:u:{update['update_id']}"


def sender_of(update: dict) -> str | None:
    """``telegram:<user_id>`` of whoever sent the update, when there is one."""
    for key in ("message", "edited_message", "callback_query", "my_chat_member"):
        sender = (update.get(key) or {}).get("from")
        if sender:
            return f"telegram:{sender['id']}"
    return None


def update_id_of(stored: Stored) -> int:
    return int(stored.payload.get("update_id", 0))


class TelegramInbox(InboundStore):
    """The core store for one bot's updates (several bots may share the database)."""

    def __init__(self, db: Database, bot_id: str) -> None:
        super().__init__(db, Channel.telegram)
        self.bot_id = bot_id

    def key(self, update: dict) -> str:
        return dedupe_key(self.bot_id, update)

    def save(self, update: dict) -> Stored:
        """Store ``update`` unless it is already stored; return what is stored."""
        return self.save_all([update])[0]

    def save_all(self, updates: list[dict]) -> list[Stored]:
        """Store the updates not stored yet, in one transaction; return what is stored."""
        return self.add_all([Incoming(self.key(u), sender_of(u), u) for u in updates])

    def adopt_legacy_keys(self) -> int:
        """Rows stored by update id before keys named the message, still unanswered, get
        their message key, so that the retry loop and the marks find them (once, at start).
        One whose message was stored again under the new key is marked answered."""
        adopted = 0
        with self._db.uow() as uow:
            rows = uow.session.execute(select(InboundMessage).where(
                InboundMessage.channel == Channel.telegram,
                InboundMessage.processed_at.is_(None),
                ~InboundMessage.external_id.contains(":"))).scalars().all()
            for row in rows:
                key = self.key(row.payload)
                if self._stored(uow, [key]):
                    row.processed_at = utcnow()
                else:
                    row.external_id = key
                    adopted += 1
            uow.commit()
        return adopted


async def retry_unprocessed(store: InboundStore, process: Callable[[dict], Awaitable[None]],
                            busy: Container[int], *, interval: float, stale_after: float,
                            max_attempts: int) -> None:
    """Forever: feed unprocessed stored updates (not in flight here) back to ``process``."""
    while True:
        await asyncio.sleep(interval)
        try:
            stale_before = utcnow() - timedelta(seconds=stale_after)
            pending = await asyncio.to_thread(store.unprocessed, stale_before, max_attempts)
            for stored in pending:
                if update_id_of(stored) not in busy:
                    log.info("retrying update %s (attempt %s)", update_id_of(stored),
                             stored.attempts + 1)
                    await process(stored.payload)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("inbound retry loop failed; trying again in %ss", interval)
