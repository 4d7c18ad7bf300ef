"""Telegram replies leave through the outbox: kept first, then sent at once.

A turn's replies are written as outbox rows in the same transaction that marks the
resident's update processed, so a crash after Rasa answered loses nothing and never
replays the turn. They are then sent right away; whatever cannot be sent now stays in the
outbox for the sender's back-off, recorded with its reason:

- ``RetryAfter`` (flood control) is waited out, up to ``MAX_WAIT`` seconds, and the same
  message sent again — never the turn;
- ``Forbidden`` (the resident blocked the bot) marks their Telegram identity unreachable
  and the rows failed: nobody keeps trying a door that is closed;
- ``BadRequest`` will not heal: that row is failed, the next ones go on;
- network trouble is retried briefly here, then left to the outbox sender.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import select, update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.core import outbox as core
from bot.core.inbound import InboundStore
from bot.core.outbox import REPLY, SENT, Due, Outcome
from minsheng.db import Database
from minsheng.enums import Channel
from minsheng.models import OutboxMessage, ResidentIdentity

log = logging.getLogger(__name__)

# Outcome, SENT and REPLY are the core's, named here for the Telegram modules.
__all__ = ["REPLY", "SENT", "Outcome", "attempt", "keep", "mark_unreachable",
           "offered_buttons", "record", "send_rows"]

RECENT_REPLIES = 50  # the replies whose buttons a restarted gateway offers again
MAX_WAIT = 30.0  # longer flood waits go back to the outbox's schedule
NETWORK_ATTEMPTS = 3


def keep(db: Database, inbox: InboundStore, chat_id: int, replies: list[dict],
         inbound_key: str | None = None, done_row: int | None = None) -> list[int]:
    """Rasa's replies as outbox rows for ``chat_id`` (leased to this process for sending
    now), in one transaction with what they answer: the inbound update marked processed
    in ``inbox``, or the outbox row that asked Rasa (a rating request) marked sent."""

    def answered(uow, now) -> None:
        if inbound_key is None:
            return
        inbox.answered(inbound_key)(uow, now)
        # They wrote to us: whatever they blocked, no longer.
        uow.session.execute(update(ResidentIdentity).where(
            ResidentIdentity.channel == Channel.telegram,
            ResidentIdentity.external_id == str(chat_id),
            ResidentIdentity.unreachable_at.is_not(None)).values(unreachable_at=None))

    def already(uow) -> bool:
        if inbound_key is not None and inbox.answered_already(inbound_key)(uow):
            log.info("update %s was answered by another process; not sent twice", inbound_key)
            return True
        return False

    kept = core.keep(db, Channel.telegram, str(chat_id), replies, done_row, answered,
                     unless=already)
    return [due.id for due in kept]


def offered_buttons(db: Database, chat_id: int) -> list[tuple[str, str]]:
    """(title, payload) of the buttons in the chat's recent kept replies, oldest first:
    what the gateway had offered before a restart emptied its memory."""
    with db.uow() as uow:
        payloads = uow.session.execute(
            select(OutboxMessage.payload).where(
                OutboxMessage.channel == Channel.telegram,
                OutboxMessage.recipient == str(chat_id), OutboxMessage.kind == REPLY)
            .order_by(OutboxMessage.id.desc()).limit(RECENT_REPLIES)).scalars().all()
    buttons = [(str(b.get("title") or ""), str(b.get("payload")))
               for payload in reversed(payloads)
               for b in ((payload or {}).get("reply") or {}).get("buttons") or []
               if isinstance(b, dict) and b.get("payload")]
    return buttons


async def attempt(send, what: str) -> Outcome:
    """Run ``send()`` patiently; the outcome says whether and how it failed."""
    network_failures = 0
    while True:
        try:
            await send()
            return SENT
        except RetryAfter as error:
            wait = _seconds(error.retry_after)
            if wait > MAX_WAIT:
                return Outcome(f"RetryAfter: {wait:.0f} s", stop_chat=True)
            log.info("flood control on %s: waiting %.1f s", what, wait)
            await asyncio.sleep(wait)
        except Forbidden as error:
            # Telegram's own text names it: "Forbidden: bot was blocked by the user"
            return Outcome(str(error), give_up=True, stop_chat=True, blocked=True)
        except BadRequest as error:
            return Outcome(f"BadRequest: {error}", give_up=True)
        except NetworkError as error:  # TimedOut is one
            network_failures += 1
            if network_failures >= NETWORK_ATTEMPTS:
                return Outcome(f"{type(error).__name__}: {error}", stop_chat=True)
            await asyncio.sleep(0.5 * network_failures)
        except TelegramError as error:
            return Outcome(f"{type(error).__name__}: {error}", stop_chat=True)


def _seconds(value) -> float:
    """PTB gives ``retry_after`` as seconds, or as a timedelta in newer settings."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def send_rows(db: Database, chat_id: int, rows: list[tuple[int, dict]],
                    send_one) -> None:
    """Send kept rows to one chat in order with ``send_one(reply)``; record every outcome.

    Each row is recorded as soon as it went: a gateway killed after Telegram took a row but
    before it was recorded makes another gateway send that row again when its lease runs
    out, and Telegram cannot drop the copy — recording row by row leaves that window to one
    row, not the whole turn. After a failure that says "not now" (flood, network, a block)
    the later rows are not tried: they go back to the outbox in their order.
    """
    dues = [Due(row_id, REPLY, "", {"reply": reply}, str(chat_id), chat_id)
            for row_id, reply in rows]
    for index, due in enumerate(dues):
        results, _ = await core.send_in_order(
            [due], lambda due: attempt(lambda: send_one(due.message), f"chat {chat_id}"))
        stop = results[0][1].stop_chat
        unsent = [later.id for later in dues[index + 1:]] if stop else []
        await asyncio.to_thread(record, db, chat_id, results, unsent)
        if stop:
            return


def record(db: Database, chat_id: int, results: list[tuple[int, Outcome]],
           unsent: list[int]) -> None:
    """Write what happened (bot.core.outbox.record); a block marks the resident's
    Telegram identity unreachable."""
    core.record(db, results, unsent, lambda uow, now: mark_unreachable(uow, chat_id, now))


def mark_unreachable(uow, chat_id: int, now) -> None:
    uow.session.execute(update(ResidentIdentity).where(
        ResidentIdentity.channel == Channel.telegram,
        ResidentIdentity.external_id == str(chat_id)).values(unreachable_at=now))
