"""The one inbound store: every channel's incoming messages in ``inbound_messages``,
stored before anything else happens to them (blocking calls, one unit of work each).

- Dedupe: a message is known by (channel, the channel's own key for it) — Telegram's
  message in its chat, WeChat's MsgId, a web-chat message id. Stored twice, it is one row.
- Claim lease: a process takes a message for ``lease`` seconds (``claimed_until``) and
  renews it while the turn runs (``holding``), so two processes never take the same
  message and a killed process's message is free again a few seconds later.
- Back-off: a kept message (Rasa down, or an empty answer) is not taken again before its
  back-off ends; the same column, so a message is either held, waiting, or free.
- Per-conversation order: ``claim_next`` takes a sender's oldest unanswered message only,
  and none while an older one is held elsewhere.
- Bounded empty answers: ``EMPTY_ATTEMPTS`` for every channel; a message Rasa could not
  take (``RASA_UNAVAILABLE``) is retried however long Rasa is down.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from minsheng.clock import utcnow
from minsheng.db import Database
from minsheng.enums import Channel
from minsheng.models import InboundMessage

log = logging.getLogger(__name__)

# last_error of a message kept because Rasa was unreachable: not the message's fault, so
# it is retried until Rasa is back, however long that takes (max_attempts is for poison).
RASA_UNAVAILABLE = "RasaUnavailable: "
# A message Rasa keeps answering with nothing is given up after this many turns, on every
# channel (with the back-off below, about a minute of the action server being down).
EMPTY_ATTEMPTS = 6
LEASE = 15.0  # seconds; renewed every third of it while the turn runs

# A web chat turn runs these statements; built once with bound parameters, each compiles
# once (SQLAlchemy builds and cache-keys a statement made on every call: most of the
# turn's database CPU). Core on the table, so an UPDATE does not also synchronise the
# session's objects. Bound names differ from column names (reserved for VALUES / SET).
_T = InboundMessage.__table__
_VIEW = (_T.c.external_id, _T.c.payload, _T.c.processed_at, _T.c.attempts, _T.c.sender)
_OF_CHANNEL = _T.c.channel == bindparam("b_channel")
_KEY = _T.c.external_id == bindparam("b_key")
_UNANSWERED = _T.c.processed_at.is_(None)
_STORED = select(*_VIEW).where(_OF_CHANNEL, _T.c.external_id.in_(
    bindparam("b_keys", expanding=True)))
_INSERT = insert(_T)
_CLAIMABLE = (_T.c.id, *_VIEW, _T.c.claimed_until)
_BY_KEY = select(*_CLAIMABLE).where(_OF_CHANNEL, _KEY)
_OLDEST_UNANSWERED = (select(*_CLAIMABLE)
                      .where(_OF_CHANNEL, _T.c.sender == bindparam("b_sender"), _UNANSWERED)
                      .order_by(_T.c.id).limit(1))
_HAS_UNANSWERED = select(_T.c.id).where(_OF_CHANNEL, _T.c.sender == bindparam("b_sender"),
                                        _UNANSWERED).limit(1)
# compare-and-set: of two processes that read the same row, one wins
_TAKE_FREE = (update(_T).where(_T.c.id == bindparam("b_id"), _UNANSWERED,
                               _T.c.claimed_until.is_(None))
              .values(claimed_until=bindparam("b_until")))
_TAKE_RUN_OUT = (update(_T).where(_T.c.id == bindparam("b_id"), _UNANSWERED,
                                  _T.c.claimed_until == bindparam("b_before"))
                 .values(claimed_until=bindparam("b_until")))
_ANSWER = (update(_T).where(_OF_CHANNEL, _KEY, _UNANSWERED)
           .values(processed_at=bindparam("b_now"), attempts=_T.c.attempts + 1,
                   last_error=None, claimed_until=None))
_ANSWERED = select(_T.c.id).where(_OF_CHANNEL, _KEY, _T.c.processed_at.is_not(None))


@dataclass(frozen=True)
class Incoming:
    """A message to store: the channel's key for it, who sent it, what it carried."""

    key: str
    sender: str | None
    payload: dict


@dataclass(frozen=True)
class Stored:
    key: str
    payload: dict
    processed: bool
    attempts: int
    seen: bool = False  # a process took it before: Rasa may already have had its turn
    fresh: bool = False  # stored by this very call (not a re-delivery)
    sender: str | None = None
    held_until: datetime | None = None  # claimed by this call: the lease ends then


def backoff(attempts: int, first: float, cap: float) -> float:
    """Seconds before a message kept ``attempts`` times before is taken again: doubling
    from ``first``, at most ``cap``."""
    return min(first * 2 ** attempts, cap)


class InboundStore:
    """The ``inbound_messages`` rows of one channel."""

    def __init__(self, db: Database, channel: Channel, lease: float = LEASE) -> None:
        self._db = db
        self.channel = channel
        self.lease = lease

    # -- storing ---------------------------------------------------------------------------
    def add(self, incoming: Incoming, claim: bool = False,
            also: Callable[[object], None] | None = None) -> Stored:
        """Store a message unless stored already; ``claim``: this process takes it at
        once (a fresh one is never taken by anyone else); ``also(uow)`` runs in the same
        transaction when it is new."""
        return self.add_all([incoming], claim, also)[0]

    def add_all(self, items: list[Incoming], claim: bool = False,
                also: Callable[[object], None] | None = None) -> list[Stored]:
        """Store the messages not stored yet, in one transaction; return what is stored."""
        keys = [i.key for i in items]
        with self._db.uow() as uow:
            stored = self._stored(uow, keys)
            fresh = {i.key: i for i in items if i.key not in stored}
            if not fresh:
                return [stored[k] for k in keys]
            now = utcnow()
            until = now + timedelta(seconds=self.lease) if claim else None
            try:
                uow.session.execute(_INSERT, [
                    {"channel": self.channel, "external_id": i.key, "sender": i.sender,
                     "payload": i.payload, "received_at": now, "attempts": 0,
                     "claimed_until": until} for i in fresh.values()])
                if also is not None:
                    also(uow)
                uow.commit()
            except IntegrityError:  # stored concurrently by another receiver
                uow.session.rollback()
                return [self._stored(uow, keys)[k] for k in keys]
            stored.update({k: Stored(k, i.payload, False, 0, fresh=True, sender=i.sender,
                                     held_until=until) for k, i in fresh.items()})
            return [stored[k] for k in keys]

    def _stored(self, uow, keys: list[str]) -> dict[str, Stored]:
        rows = uow.session.execute(_STORED, {"b_channel": self.channel, "b_keys": keys})
        return {r.external_id: _view(r) for r in rows}

    # -- claims ----------------------------------------------------------------------------
    def claim(self, key: str, lease: float | None = None) -> Stored | None:
        """Take the message for ``lease`` seconds; None if it is answered, or held by a
        live turn, or waiting out its back-off."""
        with self._db.uow() as uow:
            row = uow.session.execute(_BY_KEY, {"b_channel": self.channel,
                                                "b_key": key}).one_or_none()
            return self._take(uow, row, lease)

    def claim_next(self, sender: str, lease: float | None = None) -> Stored | None:
        """Take ``sender``'s oldest unanswered message, in order: None if there is none,
        or if it is held or backing off (a later one never overtakes it)."""
        with self._db.uow() as uow:
            row = uow.session.execute(_OLDEST_UNANSWERED, {
                "b_channel": self.channel, "b_sender": sender}).one_or_none()
            return self._take(uow, row, lease)

    def _take(self, uow, row, lease: float | None) -> Stored | None:
        now = utcnow()
        if row is None or row.processed_at is not None:
            return None
        before = row.claimed_until
        if before is not None and before > now:
            return None
        until = now + timedelta(seconds=lease or self.lease)
        taken = uow.session.execute(
            _TAKE_FREE if before is None else _TAKE_RUN_OUT,
            {"b_id": row.id, "b_before": before, "b_until": until}).rowcount
        uow.commit()
        if not taken:
            return None
        return Stored(row.external_id, dict(row.payload or {}), False, row.attempts,
                      seen=before is not None or row.attempts > 0, sender=row.sender,
                      held_until=until)

    def renew(self, keys: list[str], lease: float | None = None) -> None:
        """Extend this process's leases on the messages it is still working on."""
        if not keys:
            return
        until = utcnow() + timedelta(seconds=lease or self.lease)
        with self._db.uow() as uow:
            uow.session.execute(update(InboundMessage).where(
                InboundMessage.channel == self.channel,
                InboundMessage.external_id.in_(keys),
                InboundMessage.processed_at.is_(None)).values(claimed_until=until))
            uow.commit()

    def renew_held(self, key: str, held_until: datetime,
                   lease: float | None = None) -> datetime | None:
        """Extend the lease that ends at ``held_until``; None when it is not ours any
        more (an outcome was recorded, or it ran out and another process took it)."""
        until = utcnow() + timedelta(seconds=lease or self.lease)
        with self._db.uow() as uow:
            renewed = uow.session.execute(update(InboundMessage).where(
                InboundMessage.channel == self.channel, InboundMessage.external_id == key,
                InboundMessage.processed_at.is_(None),
                InboundMessage.claimed_until == held_until).values(claimed_until=until)).rowcount
            uow.commit()
        return until if renewed else None

    @contextlib.asynccontextmanager
    async def holding(self, held: Stored) -> AsyncIterator[None]:
        """While inside, the lease this process holds on ``held`` is renewed (a turn may
        outlast one lease); renewal stops once an outcome replaced the lease."""
        async def renew_forever() -> None:
            until = held.held_until
            while until is not None:
                await asyncio.sleep(self.lease / 3)
                try:
                    until = await asyncio.to_thread(self.renew_held, held.key, until)
                except Exception:  # the next round tries again; the turn goes on
                    log.exception("could not renew the lease on inbound message %s",
                                  held.key)

        renewer = asyncio.create_task(renew_forever(), name=f"lease-{held.key}")
        try:
            yield
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer

    # -- outcomes --------------------------------------------------------------------------
    def answered(self, key: str) -> Callable[[object, datetime], None]:
        """``also`` for ``bot.core.outbox.keep``: the message answered in the same
        transaction as its kept replies (the answering attempt counted there too)."""
        def mark(uow, now: datetime) -> None:
            uow.session.execute(_ANSWER, {"b_channel": self.channel, "b_key": key,
                                          "b_now": now})
        return mark

    def answered_already(self, key: str) -> Callable[[object], bool]:
        """``unless`` for ``bot.core.outbox.keep``: True when another process answered
        the message first (checked in the transaction that would answer it)."""
        def check(uow) -> bool:
            return uow.session.execute(_ANSWERED, {"b_channel": self.channel,
                                                   "b_key": key}).first() is not None
        return check

    def mark_processed(self, key: str) -> None:
        """Answered without replies kept by ``answered`` (a handler that sent nothing or
        sent directly); a message already marked there is left as it is — one attempt is
        counted once."""
        self._set(key, processed_at=utcnow(), attempts=InboundMessage.attempts + 1,
                  last_error=None, claimed_until=None, unanswered_only=True)

    def mark_failed(self, key: str, error: str, backoff: float = 0.0) -> None:
        """One more failed attempt; nobody takes it again for ``backoff`` seconds."""
        until = utcnow() + timedelta(seconds=backoff) if backoff > 0 else None
        self._set(key, attempts=InboundMessage.attempts + 1, last_error=error[:2000],
                  claimed_until=until)

    def give_up(self, key: str, error: str) -> None:
        """Never taken again (the resident was told); the reason stays with it."""
        self._set(key, processed_at=utcnow(), attempts=InboundMessage.attempts + 1,
                  last_error=error[:2000], claimed_until=None)

    def _set(self, key: str, unanswered_only: bool = False, **values) -> None:
        with self._db.uow() as uow:
            query = update(InboundMessage).where(InboundMessage.channel == self.channel,
                                                 InboundMessage.external_id == key)
            if unanswered_only:
                query = query.where(InboundMessage.processed_at.is_(None))
            uow.session.execute(query.values(**values))
            uow.commit()

    # -- reading ---------------------------------------------------------------------------
    def attempts(self, key: str) -> int:
        with self._db.uow(read_only=True) as uow:
            return uow.session.execute(select(InboundMessage.attempts).where(
                InboundMessage.channel == self.channel,
                InboundMessage.external_id == key)).scalar() or 0

    def has_unanswered(self, sender: str) -> bool:
        with self._db.uow(read_only=True) as uow:  # an open page asks every second
            return uow.session.execute(_HAS_UNANSWERED, {
                "b_channel": self.channel, "b_sender": sender}).first() is not None

    def has_other_failures(self, sender: str, key: str) -> bool:
        """Whether ``sender`` has another message already waiting for a retry."""
        with self._db.uow(read_only=True) as uow:
            return uow.session.execute(select(InboundMessage.id).where(
                InboundMessage.channel == self.channel, InboundMessage.sender == sender,
                InboundMessage.processed_at.is_(None), InboundMessage.attempts > 0,
                InboundMessage.external_id != key).limit(1)).first() is not None

    def unprocessed(self, stale_before: datetime, max_attempts: int,
                    limit: int = 50) -> list[Stored]:
        """Messages to take again: kept before, or left by a process that is gone (its
        lease ran out), or stored before ``stale_before`` and never taken; none that is
        held or backing off now. Oldest first."""
        now = utcnow()
        with self._db.uow(read_only=True) as uow:
            rows = uow.session.execute(select(InboundMessage).where(
                InboundMessage.channel == self.channel,
                InboundMessage.processed_at.is_(None),
                (InboundMessage.attempts < max_attempts)
                | InboundMessage.last_error.startswith(RASA_UNAVAILABLE),
                (InboundMessage.attempts > 0) | (InboundMessage.received_at < stale_before)
                | InboundMessage.claimed_until.is_not(None),
                InboundMessage.claimed_until.is_(None) | (InboundMessage.claimed_until <= now),
            ).order_by(InboundMessage.id).limit(limit)).scalars().all()
            return [_view(r) for r in rows]


def _view(row: InboundMessage) -> Stored:
    return Stored(row.external_id, dict(row.payload or {}), row.processed_at is not None,
                  row.attempts, sender=row.sender)
