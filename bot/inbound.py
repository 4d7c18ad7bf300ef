"""Every inbound update is stored before it is processed, once per ``update_id``.

A re-delivered update finds its row already processed and is skipped; an update whose
processing failed (Rasa down, a crash) stays unprocessed and the retry loop feeds it
through the application again until it is answered.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Container
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from minsheng.db import Database
from minsheng.enums import Channel
from minsheng.models import InboundMessage

log = logging.getLogger(__name__)

# last_error of an update kept because Rasa was unreachable: not the update's fault, so it
# is retried until Rasa is back, however long that takes (max_attempts is for poison ones).
RASA_UNAVAILABLE = "RasaUnavailable: "


@dataclass(frozen=True)
class StoredUpdate:
    update_id: int
    payload: dict
    processed: bool
    attempts: int


def sender_of(update: dict) -> str | None:
    """``telegram:<user_id>`` of whoever sent the update, when there is one."""
    for key in ("message", "edited_message", "callback_query", "my_chat_member"):
        sender = (update.get(key) or {}).get("from")
        if sender:
            return f"telegram:{sender['id']}"
    return None


class InboundStore:
    """The ``inbound_messages`` table for the Telegram channel (blocking calls)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def save(self, update: dict) -> StoredUpdate:
        """Store ``update`` unless it is already stored; return what is stored."""
        return self.save_all([update])[0]

    def save_all(self, updates: list[dict]) -> list[StoredUpdate]:
        """Store the updates not stored yet, in one transaction; return what is stored."""
        ids = [str(int(u["update_id"])) for u in updates]
        with self._db.uow() as uow:
            stored = self._stored(uow, ids)
            fresh = [u for u in updates if str(u["update_id"]) not in stored]
            if fresh:
                now = datetime.utcnow()
                uow.session.add_all([
                    InboundMessage(channel=Channel.telegram, external_id=str(u["update_id"]),
                                   sender=sender_of(u), payload=u, received_at=now)
                    for u in fresh
                ])
                try:
                    uow.commit()
                    stored.update({str(u["update_id"]): StoredUpdate(
                        int(u["update_id"]), u, False, 0) for u in fresh})
                except IntegrityError:  # stored concurrently by another receiver
                    uow.session.rollback()
                    stored = self._stored(uow, ids)
            return [stored[i] for i in ids]

    def _stored(self, uow, ids: list[str]) -> dict[str, StoredUpdate]:
        rows = uow.session.execute(select(InboundMessage).where(
            InboundMessage.channel == Channel.telegram,
            InboundMessage.external_id.in_(ids))).scalars().all()
        return {r.external_id: StoredUpdate(int(r.external_id), r.payload,
                                            r.processed_at is not None, r.attempts)
                for r in rows}

    def mark_processed(self, update_id: int) -> None:
        self._set(update_id, processed_at=datetime.utcnow(),
                  attempts=InboundMessage.attempts + 1, last_error=None)

    def mark_failed(self, update_id: int, error: str) -> None:
        self._set(update_id, attempts=InboundMessage.attempts + 1, last_error=error[:2000])

    def has_other_failures(self, sender: str, update_id: int) -> bool:
        """Whether ``sender`` has another message already waiting for a retry."""
        with self._db.uow() as uow:
            found = uow.session.execute(
                select(InboundMessage.id).where(
                    InboundMessage.channel == Channel.telegram,
                    InboundMessage.sender == sender,
                    InboundMessage.processed_at.is_(None),
                    InboundMessage.attempts > 0,
                    InboundMessage.external_id != str(update_id),
                ).limit(1)
            ).first()
            return found is not None

    def unprocessed(self, stale_before: datetime, max_attempts: int,
                    limit: int = 50) -> list[StoredUpdate]:
        """Updates to retry: failed before, or stored long ago and never finished."""
        with self._db.uow() as uow:
            rows = uow.session.execute(
                select(InboundMessage).where(
                    InboundMessage.channel == Channel.telegram,
                    InboundMessage.processed_at.is_(None),
                    (InboundMessage.attempts < max_attempts)
                    | InboundMessage.last_error.startswith(RASA_UNAVAILABLE),
                    (InboundMessage.attempts > 0) | (InboundMessage.received_at < stale_before),
                ).order_by(InboundMessage.id).limit(limit)
            ).scalars().all()
            return [StoredUpdate(int(r.external_id), r.payload, False, r.attempts) for r in rows]

    def _set(self, update_id: int, **values) -> None:
        with self._db.uow() as uow:
            uow.session.execute(
                update(InboundMessage).where(
                    InboundMessage.channel == Channel.telegram,
                    InboundMessage.external_id == str(update_id),
                ).values(**values)
            )
            uow.commit()


async def retry_unprocessed(store: InboundStore, process: Callable[[dict], Awaitable[None]],
                            busy: Container[int], *, interval: float, stale_after: float,
                            max_attempts: int) -> None:
    """Forever: feed unprocessed stored updates (not in flight here) back to ``process``."""
    while True:
        await asyncio.sleep(interval)
        try:
            stale_before = datetime.utcnow() - timedelta(seconds=stale_after)
            pending = await asyncio.to_thread(store.unprocessed, stale_before, max_attempts)
            for stored in pending:
                if stored.update_id not in busy:
                    log.info("retrying update %s (attempt %s)", stored.update_id,
                             stored.attempts + 1)
                    await process(stored.payload)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("inbound retry loop failed; trying again in %ss", interval)
