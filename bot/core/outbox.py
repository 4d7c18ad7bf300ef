"""The one outbox sender: every reply and notice leaves through here, on every channel.

A row is written first (a turn's replies in the same transaction that marks the message
answered; a notice in the same transaction as the change it reports), then delivered.
The sender claims due rows of the channels registered in its process, resolves each
recipient with that channel's adapter, and hands the rows of one recipient to the
adapter's ``deliver`` one after another, in order. What is shared lives here:

- outcomes: sent; retried with the outbox's back-off; failed with its reason for good
  (``give_up``); the recipient unreachable (they blocked or unfollowed us: their identity
  is marked and nothing more is tried);
- a recipient's rows go in order: after a "not now" outcome their later rows wait
  (released now, and not claimed while an older row backs off);
- a ``rating_request`` asks Rasa (``trigger_intent``) for the rating dialogue; its
  messages are kept as reply rows together with the request marked done, so a failed
  send never asks Rasa twice, and then delivered like any reply;
- a pulled channel (``pulled`` on its adapter: the web chat, whose page draws its rows)
  has only its rating requests claimed here; the dialogue's kept rows wait for the page.

Adapters keep only their rendering and their protocol call (``bot.core.contract.Adapter``).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.exc import OperationalError

from bot.core.rasa import RasaUnavailable
from minsheng.clock import utcnow
from minsheng.db import Database
from minsheng.enums import Channel
from minsheng.services import outbox

log = logging.getLogger(__name__)

REPLY = "reply"  # a turn's reply (payload {"reply": Rasa's message})
RATING_REQUEST = "rating_request"
RATING_INTENT = "start_rating"
TRIGGER_ATTEMPTS = 3


@dataclass(frozen=True)
class Outcome:
    """How delivering one row ended: sent (error None), or why not, and what follows."""

    error: str | None = None
    give_up: bool = False  # never retry this row
    stop_chat: bool = False  # do not send this recipient's later rows now (keep their order)
    blocked: bool = False  # the recipient cannot be reached on this channel any more
    pieces_sent: int = 0  # of a row sent as several messages: how many went in all


SENT = Outcome()


@dataclass(frozen=True)
class Due:
    """One outbox row to deliver, its recipient resolved by the channel's adapter."""

    id: int
    kind: str
    text: str
    payload: dict = field(default_factory=dict)
    recipient: str = ""
    address: Hashable | None = None  # chat id, openid …; None: not reachable there

    @property
    def pieces_sent(self) -> int:
        """How many of this row's messages went in earlier attempts (skip them now)."""
        return int(self.payload.get(outbox.PIECES_SENT) or 0)

    @property
    def message(self) -> dict:
        """What to render: Rasa's message for a reply, else the notice's text and buttons."""
        if self.kind == REPLY:
            return dict(self.payload.get("reply") or {})
        return {"text": self.text, "buttons": self.payload.get("buttons") or []}


def keep(db: Database, channel: Channel, recipient: str, replies: list[dict],
         done_row: int | None = None,
         also: Callable[[object, object], None] | None = None,
         rendered: bool = False,
         unless: Callable[[object], bool] | None = None) -> list[Due]:
    """Replies as outbox rows leased to this process for sending now, in one transaction
    with what they answer: ``also(uow, now)`` (e.g. the inbound message marked processed)
    or the outbox row that asked Rasa (``done_row``) marked sent. If this process dies
    before sending, the sender delivers them when the lease runs out. ``rendered``: the
    texts are already in the channel's own form (its adapter sends them as they are).
    ``unless(uow)``: True when what the replies answer was answered already (by another
    process); checked in the same transaction, so of two answers only one is kept."""
    now = utcnow()
    with db.uow() as uow:
        if unless is not None and unless(uow):
            return []
        dues = keep_in(uow, channel, recipient, replies, now, rendered)
        if also is not None:
            also(uow, now)
        if done_row is not None:
            outbox.mark_sent(uow, done_row, now)
        uow.commit()
        return dues


def keep_in(uow, channel: Channel, recipient: str, replies: list[dict], now,
            rendered: bool = False) -> list[Due]:
    """``keep``'s rows written in the caller's unit of work (flushed, not committed): for a
    change whose answer must be kept in the same transaction as the change itself."""
    rows, extra = [], {"rendered": True} if rendered else {}
    for reply in replies:
        row = outbox.enqueue(uow, channel, recipient, REPLY, str(reply.get("text") or ""),
                             payload={"reply": reply, **extra}, now=now)
        row.next_attempt_at = now + timedelta(seconds=outbox.CLAIM_LEASE_SECONDS)
        rows.append(row)
    uow.session.flush()
    return [Due(r.id, REPLY, r.text, dict(r.payload), recipient) for r in rows]


RECORD_TRIES = 5  # with SQLite's 30 s busy timeout: a write lock of about 2 minutes


def record(db: Database, results: list[tuple[int, Outcome]], unsent: list[int],
           unreachable: Callable[[object, object], None] | None = None) -> None:
    """Write what happened to one recipient's rows, retried with back-off while the
    database refuses the write: the messages are already out, and a row not marked sent
    would be sent again when its lease runs out (a second copy for the resident)."""
    for attempt in range(1, RECORD_TRIES + 1):
        try:
            _record(db, results, unsent, unreachable)
            return
        except OperationalError:
            if attempt == RECORD_TRIES:
                raise
            log.warning("could not record %d delivered row(s) (database busy or down); "
                        "trying again (%d/%d)", len(results), attempt, RECORD_TRIES)
            time.sleep(min(2 ** attempt, 15))


def _record(db: Database, results: list[tuple[int, Outcome]], unsent: list[int],
            unreachable: Callable[[object, object], None] | None) -> None:
    """Sent, failed (later or never), rows not tried handed back; a block marks the
    recipient unreachable (``unreachable``) and fails what was still waiting for them."""
    now = utcnow()
    blocked = any(o.blocked for _, o in results)
    with db.uow() as uow:
        for row_id, outcome in results:
            if outcome.error is None:
                outbox.mark_sent(uow, row_id, now)
            else:
                outbox.mark_failed(uow, row_id, outcome.error, now, give_up=outcome.give_up,
                                   pieces_sent=outcome.pieces_sent)
        for row_id in unsent:
            if blocked:
                outbox.mark_failed(uow, row_id, "the recipient cannot be reached", now,
                                   give_up=True)
            else:
                outbox.release(uow, row_id, now)
        if blocked and unreachable is not None:
            unreachable(uow, now)
        uow.commit()


async def send_in_order(dues: list[Due], deliver: Callable[[Due], Awaitable[Outcome]],
                        pace: Callable[[], Awaitable[None]] | None = None
                        ) -> tuple[list[tuple[int, Outcome]], list[int]]:
    """One recipient's rows, oldest first; stops at a "not now". Returns (outcomes, ids
    not tried)."""
    results: list[tuple[int, Outcome]] = []
    for index, due in enumerate(dues):
        if pace is not None:
            await pace()
        outcome = await deliver(due)
        results.append((due.id, outcome))
        if outcome.error is not None:
            log.warning("outbox row %s to %s not sent: %s", due.id, due.recipient,
                        outcome.error)
        if outcome.stop_chat:
            return results, [later.id for later in dues[index + 1:]]
    return results, []


async def deliver_kept(db: Database, adapter, dues: list[Due]) -> list[tuple[int, Outcome]]:
    """Kept replies sent now by their channel (a turn's answer), outcomes recorded."""
    if not dues:
        return []
    results, unsent = await send_in_order(dues, adapter.deliver)
    await asyncio.to_thread(record, db, results, unsent,
                            _unreachable(adapter, dues[0].address))
    return results


def _unreachable(adapter, address):
    return lambda uow, now: adapter.mark_unreachable(uow, address, now)


class OutboxSender:
    """Claims due rows of its adapters' channels and delivers them (one loop per process)."""

    def __init__(self, db: Database, adapters: Iterable, batch: int = 50,
                 interval: float = 1.0, parallel: int = 64) -> None:
        self.db = db
        # Recipients served at once: rows of one recipient always go one after another.
        self._parallel = asyncio.Semaphore(parallel)
        self.adapters = {adapter.channel: adapter for adapter in adapters}
        self.batch = batch
        self.interval = interval
        self._last_sent: dict[tuple, float] = {}

    async def run_forever(self) -> None:
        while True:
            try:
                await self.send_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox tick failed; trying again in %ss", self.interval)
            await asyncio.sleep(self.interval)

    async def send_due(self) -> int:
        """Deliver every due row once; returns how many were sent."""
        due = await asyncio.to_thread(self._claim)
        groups: dict[tuple, list[Due]] = defaultdict(list)
        for channel, row in due:
            groups[(channel, row.address)].append(row)
        # A recipient's rows in the order they were written (a retried row is due later
        # than the rows after it, which waited for it).
        counts = await asyncio.gather(*(self._send_group(channel, sorted(rows,
                                                                         key=lambda d: d.id))
                                        for (channel, _), rows in groups.items()))
        return sum(counts)

    async def _send_group(self, channel: Channel, rows: list[Due]) -> int:
        async with self._parallel:
            return await self._send_recipient(channel, rows)

    async def _send_recipient(self, channel: Channel, rows: list[Due]) -> int:
        adapter = self.adapters[channel]
        address = rows[0].address
        if address is None:
            failed = [(r.id, Outcome(f"recipient not reachable on {channel.value}"))
                      for r in rows]
            await asyncio.to_thread(record, self.db, failed, [])
            return 0
        results, unsent = await send_in_order(
            rows, lambda due: self._deliver(adapter, due),
            lambda: self._pace(adapter, (channel, address)))
        await asyncio.to_thread(record, self.db, results, unsent,
                                _unreachable(adapter, address))
        return sum(1 for _, o in results if o.error is None)

    async def _deliver(self, adapter, due: Due) -> Outcome:
        if due.kind != RATING_REQUEST:
            return await adapter.deliver(due)
        return await self._start_rating(adapter, due)

    async def _start_rating(self, adapter, due: Due) -> Outcome:
        """Rasa's rating dialogue for the case, kept, then delivered like any reply."""
        messages = await self._trigger_rating(adapter, due)
        if isinstance(messages, Outcome):
            return messages
        kept = await asyncio.to_thread(keep, self.db, adapter.channel,
                                       adapter.reply_recipient(due.address), messages, due.id)
        if getattr(adapter, "pulled", False):
            return SENT  # its page draws the kept rows (and marks them delivered)
        kept = [Due(k.id, k.kind, k.text, k.payload, k.recipient, due.address) for k in kept]
        results = await deliver_kept(self.db, adapter, kept)
        # The request itself is done (its replies recorded their own outcomes); later
        # rows to this recipient wait if its replies could not go now.
        return Outcome(stop_chat=any(o.stop_chat for _, o in results))

    async def _trigger_rating(self, adapter, due: Due) -> list[dict] | Outcome:
        """Rasa's messages, asked a few times at short intervals (a restarting action
        server answers nothing for a moment); else the "not now" for the back-off."""
        outcome = Outcome()
        for attempt in range(1, TRIGGER_ATTEMPTS + 1):
            try:
                messages = await adapter.rasa.trigger_intent(
                    adapter.sender_id(due.address), RATING_INTENT,
                    {"case_no": due.payload.get("case_no")})
            except RasaUnavailable as error:
                outcome = Outcome(f"Rasa: {error}", stop_chat=True)
            else:
                if messages:
                    return messages
                # The action server is down: the rating form could not ask.
                outcome = Outcome("Rasa: no messages (is the action server down?)",
                                  stop_chat=True)
            if attempt < TRIGGER_ATTEMPTS:
                await asyncio.sleep(0.5 * attempt)
        return outcome

    async def _pace(self, adapter, key: tuple) -> None:
        """At most one message per the adapter's ``per_recipient_interval`` to one chat."""
        interval = getattr(adapter, "per_recipient_interval", 0.0)
        if interval <= 0:
            return
        wait = self._last_sent.get(key, 0.0) + interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_sent[key] = time.monotonic()

    # -- database (blocking) -------------------------------------------------------------
    def _claim(self) -> list[tuple[Channel, Due]]:
        pushed = [c for c, a in self.adapters.items() if not getattr(a, "pulled", False)]
        pulled = [c for c in self.adapters if c not in pushed]
        now = utcnow()
        with self.db.uow() as uow:
            rows = outbox.claim_due(uow, now, self.batch, channels=pushed,
                                    in_order=True) if pushed else []
            if pulled:
                rows += outbox.claim_due(uow, now, self.batch, channels=pulled,
                                         kinds=[RATING_REQUEST], in_order=True)
            due = []
            for row in rows:
                channel = Channel(row.channel)
                address = self.adapters[channel].address(uow, row.recipient)
                due.append((channel, Due(row.id, row.kind, row.text, dict(row.payload or {}),
                                         row.recipient, address)))
            uow.commit()
            return due
