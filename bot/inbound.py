"""Every inbound update is stored before it is processed, once per message.

An update is known by what it carries — this bot's message in its chat, or the button
press — not by its ``update_id``: Telegram starts update ids afresh after a quiet week,
and a second bot (or gateway) on the same database has ids of its own. A re-delivered
update finds its row already processed and is skipped; an update whose processing failed
(Rasa down, a crash) stays unprocessed and the retry loop feeds it through the
application again until it is answered.

One process at a time works on a stored update: it claims the row for a short lease
(``claimed_until``) and renews it while the turn runs, so a second gateway on the same
database never takes the same turn, and a killed gateway's updates are free again a few
seconds later (not after a minute). A kept update's back-off is the same column.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Container
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from minsheng.clock import utcnow
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
    key: str
    payload: dict
    processed: bool
    attempts: int
    seen: bool = False  # a process took it before: Rasa may already have had its turn


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


class InboundStore:
    """The ``inbound_messages`` table for the Telegram channel (blocking calls)."""

    def __init__(self, db: Database, bot_id: str) -> None:
        self._db = db
        self.bot_id = bot_id

    def key(self, update: dict) -> str:
        return dedupe_key(self.bot_id, update)

    def save(self, update: dict) -> StoredUpdate:
        """Store ``update`` unless it is already stored; return what is stored."""
        return self.save_all([update])[0]

    def save_all(self, updates: list[dict]) -> list[StoredUpdate]:
        """Store the updates not stored yet, in one transaction; return what is stored."""
        ids = [self.key(u) for u in updates]
        with self._db.uow() as uow:
            stored = self._stored(uow, ids)
            fresh = {key: u for key, u in zip(ids, updates) if key not in stored}
            if fresh:
                now = utcnow()
                uow.session.add_all([
                    InboundMessage(channel=Channel.telegram, external_id=key,
                                   sender=sender_of(u), payload=u, received_at=now)
                    for key, u in fresh.items()
                ])
                try:
                    uow.commit()
                    stored.update({key: StoredUpdate(int(u["update_id"]), key, u, False, 0)
                                   for key, u in fresh.items()})
                except IntegrityError:  # stored concurrently by another receiver
                    uow.session.rollback()
                    stored = self._stored(uow, ids)
            return [stored[i] for i in ids]

    def _stored(self, uow, ids: list[str]) -> dict[str, StoredUpdate]:
        rows = uow.session.execute(select(InboundMessage).where(
            InboundMessage.channel == Channel.telegram,
            InboundMessage.external_id.in_(ids))).scalars().all()
        return {r.external_id: _stored(r) for r in rows}

    def mark_processed(self, key: str) -> None:
        self._set(key, processed_at=utcnow(),
                  attempts=InboundMessage.attempts + 1, last_error=None, claimed_until=None)

    def claim(self, key: str, lease: float) -> StoredUpdate | None:
        """Take the stored update for ``lease`` seconds; None if it is processed, or
        claimed by a live turn or waiting out its back-off."""
        now = utcnow()
        with self._db.uow() as uow:
            row = uow.session.execute(select(InboundMessage).where(
                InboundMessage.channel == Channel.telegram,
                InboundMessage.external_id == key)).scalar_one_or_none()
            if row is None or row.processed_at is not None:
                return None
            before = row.claimed_until
            if before is not None and before > now:
                return None
            # compare-and-set: a process that read the same row first wins
            taken = uow.session.execute(update(InboundMessage).where(
                InboundMessage.id == row.id, InboundMessage.processed_at.is_(None),
                InboundMessage.claimed_until.is_(None) if before is None
                else InboundMessage.claimed_until == before,
            ).values(claimed_until=now + timedelta(seconds=lease))).rowcount
            uow.commit()
            if not taken:
                return None
            stored = _stored(row)
            return StoredUpdate(stored.update_id, key, stored.payload, False, row.attempts,
                                seen=before is not None or row.attempts > 0)

    def renew(self, keys: list[str], lease: float) -> None:
        """Extend this process's leases on the updates it is still working on."""
        if not keys:
            return
        with self._db.uow() as uow:
            uow.session.execute(update(InboundMessage).where(
                InboundMessage.channel == Channel.telegram,
                InboundMessage.external_id.in_(keys),
                InboundMessage.processed_at.is_(None),
            ).values(claimed_until=utcnow() + timedelta(seconds=lease)))
            uow.commit()

    def mark_failed(self, key: str, error: str, backoff: float = 0.0) -> None:
        """One more failed attempt; nobody retries it for ``backoff`` seconds."""
        until = utcnow() + timedelta(seconds=backoff) if backoff > 0 else None
        self._set(key, attempts=InboundMessage.attempts + 1, last_error=error[:2000],
                  claimed_until=until)

    def give_up(self, key: str, error: str) -> None:
        """Never retried again (the resident was told); the reason stays with it."""
        self._set(key, processed_at=utcnow(), attempts=InboundMessage.attempts + 1,
                  last_error=error[:2000], claimed_until=None)

    def has_other_failures(self, sender: str, key: str) -> bool:
        """Whether ``sender`` has another message already waiting for a retry."""
        with self._db.uow() as uow:
            found = uow.session.execute(
                select(InboundMessage.id).where(
                    InboundMessage.channel == Channel.telegram,
                    InboundMessage.sender == sender,
                    InboundMessage.processed_at.is_(None),
                    InboundMessage.attempts > 0,
                    InboundMessage.external_id != key,
                ).limit(1)
            ).first()
            return found is not None

    def unprocessed(self, stale_before: datetime, max_attempts: int,
                    limit: int = 50) -> list[StoredUpdate]:
        """Updates to retry: failed before, or claimed by a process that is gone, or stored
        a while ago and never claimed; none that is claimed or backing off now."""
        now = utcnow()
        with self._db.uow() as uow:
            rows = uow.session.execute(
                select(InboundMessage).where(
                    InboundMessage.channel == Channel.telegram,
                    InboundMessage.processed_at.is_(None),
                    (InboundMessage.attempts < max_attempts)
                    | InboundMessage.last_error.startswith(RASA_UNAVAILABLE),
                    (InboundMessage.attempts > 0) | (InboundMessage.received_at < stale_before)
                    | InboundMessage.claimed_until.is_not(None),
                    InboundMessage.claimed_until.is_(None) | (InboundMessage.claimed_until <= now),
                ).order_by(InboundMessage.id).limit(limit)
            ).scalars().all()
            return [_stored(r) for r in rows]

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

    def _set(self, key: str, **values) -> None:
        with self._db.uow() as uow:
            uow.session.execute(
                update(InboundMessage).where(
                    InboundMessage.channel == Channel.telegram,
                    InboundMessage.external_id == key,
                ).values(**values)
            )
            uow.commit()


def _stored(row: InboundMessage) -> StoredUpdate:
    return StoredUpdate(int(row.payload.get("update_id", 0)), row.external_id, row.payload,
                        row.processed_at is not None, row.attempts)


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
                if stored.update_id not in busy:
                    log.info("retrying update %s (attempt %s)", stored.update_id,
                             stored.attempts + 1)
                    await process(stored.payload)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("inbound retry loop failed; trying again in %ss", interval)
