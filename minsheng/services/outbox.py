"""The notification outbox: written in the same transaction as the change it reports,
sent later by a gateway, retried with back-off, never silently lost.

These functions do not commit: they are parts of a caller's unit of work.
Recipients are "staff:<id>" or "resident:<id>"; the gateway resolves them to chat ids.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session, aliased

from minsheng.clock import utcnow
from minsheng.enums import Channel
from minsheng.models import OutboxMessage

MAX_ATTEMPTS = 8
BASE_BACKOFF_SECONDS = 30
MAX_BACKOFF_SECONDS = 3600
# A claimed row is not handed to another sender until this lease runs out, so a sender
# that died mid-send is retried instead of the row staying claimed forever.
CLAIM_LEASE_SECONDS = 120
# A unit of work whose session.info has this key set queues nothing: the demo seed runs the
# real services for made-up residents and staff, whom no real channel may ever message.
SILENT = "outbox_silent"
# Payload key: of a row a channel sends as several messages (WeChat's pieces), how many
# went before a failure; its retry sends only the rest.
PIECES_SENT = "pieces_sent"


def _session(uow) -> Session:
    return uow.session


def enqueue(uow, channel: Channel, recipient: str, kind: str, text: str,
            payload: dict | None = None, dedupe_key: str | None = None,
            now: datetime | None = None) -> OutboxMessage | None:
    """Queue one message; with ``dedupe_key`` the same message is only queued once."""
    session = _session(uow)
    if session.info.get(SILENT):
        return None
    if dedupe_key:
        existing = session.execute(select(OutboxMessage).where(
            OutboxMessage.dedupe_key == dedupe_key)).scalar_one_or_none()
        if existing is not None:
            return existing
    now = now or utcnow()
    message = OutboxMessage(channel=Channel(channel), recipient=recipient, kind=kind, text=text,
                            payload=payload or {}, dedupe_key=dedupe_key, created_at=now,
                            next_attempt_at=now, attempts=0)
    session.add(message)
    return message


_CONVERSATION = select(OutboxMessage).where(
    OutboxMessage.channel == bindparam("b_channel"),
    OutboxMessage.recipient == bindparam("b_recipient"),
    OutboxMessage.id > bindparam("b_after")).order_by(OutboxMessage.id)
_INSERT = insert(OutboxMessage.__table__)  # built once: compiled once (see delivered)


def delivered(uow, channel: Channel, recipient: str, kind: str,
              messages: list[tuple[str, dict]], now: datetime) -> list[int]:
    """Rows for messages delivered as they are made (a pulled channel's replies, which go
    back in the response): ``(text, payload)`` each, marked sent at ``now``; their ids, in
    order. A Core INSERT a row (for its id), not the unit of work's flush: a web chat turn's
    database CPU is mostly SQLAlchemy's own."""
    session = _session(uow)
    if session.info.get(SILENT):
        return []
    channel = Channel(channel)
    return [session.execute(_INSERT, {
        "channel": channel, "recipient": recipient, "kind": kind, "text": text,
        "payload": payload, "created_at": now, "next_attempt_at": now, "attempts": 0,
        "sent_at": now}).inserted_primary_key[0] for text, payload in messages]


def claim_due(uow, now: datetime, limit: int = 50, *,
              channels: Iterable[Channel] | None = None, recipient: str | None = None,
              kinds: Iterable[str] | None = None, in_order: bool = False
              ) -> list[OutboxMessage]:
    """Due rows, leased to this sender; SKIP LOCKED keeps hosts apart.

    A sender passes the ``channels`` it delivers and never leases another channel's rows
    (None: every channel, for consoles and tests); ``recipient`` and ``kinds`` narrow it.
    ``in_order``: a row waits while an older row to the same recipient is pending and not
    due (backing off, or leased to a sender), so a recipient's messages never overtake.
    """
    session = _session(uow)
    query = select(OutboxMessage).where(
        OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None),
        OutboxMessage.next_attempt_at <= now)
    if channels is not None:
        query = query.where(OutboxMessage.channel.in_([Channel(c) for c in channels]))
    if recipient is not None:
        query = query.where(OutboxMessage.recipient == recipient)
    if kinds is not None:
        query = query.where(OutboxMessage.kind.in_(list(kinds)))
    if in_order:
        older = aliased(OutboxMessage)
        query = query.where(~select(older.id).where(
            older.channel == OutboxMessage.channel, older.recipient == OutboxMessage.recipient,
            older.id < OutboxMessage.id, older.sent_at.is_(None), older.failed_at.is_(None),
            older.next_attempt_at > now).exists())
    rows = list(session.execute(
        query.order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)
        .with_for_update(skip_locked=True)).scalars())
    for row in rows:
        row.attempts = (row.attempts or 0) + 1
        row.next_attempt_at = now + timedelta(seconds=CLAIM_LEASE_SECONDS)
    session.flush()
    return rows


def mark_sent(uow, message_id: int, now: datetime | None = None) -> None:
    row = _session(uow).get(OutboxMessage, message_id)
    if row is not None and row.sent_at is None:
        row.sent_at = now or utcnow()
        row.last_error = None


def release(uow, message_id: int, now: datetime | None = None) -> None:
    """Hand a leased, untried row back to the senders: due now, attempt not counted."""
    row = _session(uow).get(OutboxMessage, message_id)
    if row is not None and row.sent_at is None and row.failed_at is None:
        row.next_attempt_at = now or utcnow()


def backoff(attempts: int) -> timedelta:
    """30 s, 60 s, 120 s … capped at an hour."""
    seconds = BASE_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, MAX_BACKOFF_SECONDS))


def mark_failed(uow, message_id: int, error: str, now: datetime | None = None,
                max_attempts: int = MAX_ATTEMPTS, give_up: bool = False,
                pieces_sent: int = 0) -> None:
    """Record the error; retry later, or give up after ``max_attempts`` or at once when
    retrying cannot help (``give_up``: refused, recipient blocked us). The row stays.
    ``pieces_sent``: how many of the row's messages went all the same (``PIECES_SENT``)."""
    row = _session(uow).get(OutboxMessage, message_id)
    if row is None or row.sent_at is not None:
        return
    now = now or utcnow()
    row.last_error = str(error)[:2000]
    if pieces_sent:  # a new dict: the JSON column does not track changes inside one
        row.payload = {**(row.payload or {}), PIECES_SENT: pieces_sent}
    if give_up or (row.attempts or 0) >= max_attempts:
        row.failed_at = now
    else:
        row.next_attempt_at = now + backoff(row.attempts or 1)


def pending(uow) -> list[OutboxMessage]:
    """Unsent rows, oldest first (for consoles and tests)."""
    return list(_session(uow).execute(select(OutboxMessage).where(
        OutboxMessage.sent_at.is_(None)).order_by(OutboxMessage.id)).scalars())


def conversation(uow, channel: Channel, recipient: str, after: int = 0) -> list[OutboxMessage]:
    """A recipient's rows on a pulled channel (the web chat) with ids above ``after``, in
    order (an open page asks every second: the statement is built once)."""
    return list(_session(uow).execute(_CONVERSATION, {
        "b_channel": Channel(channel), "b_recipient": recipient, "b_after": after}).scalars())
