"""The outbox sender: due rows of the ``outbox`` table become Telegram messages.

Each tick claims due rows, resolves ``staff:<id>`` / ``resident:<id>`` to chat ids,
sends (PTB's AIORateLimiter keeps the bot under ~30 messages/s; here each chat gets at
most one message per ``per_chat_interval``), and marks every row sent or failed — a
failed row is retried by the domain's schedule, never lost. A ``rating_request`` starts
the rating conversation through Rasa's ``trigger_intent`` and delivers its messages.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import NetworkError

from bot import delivery, render
from bot.core.rasa import RasaUnavailable
from bot.gateway import Gateway
from bot.resident import send_reply, sender_id
from minsheng.enums import Channel
from minsheng.models import ResidentIdentity, Staff
from minsheng.services import cases, outbox

log = logging.getLogger(__name__)

RATING_INTENT = "start_rating"
RATING_REQUEST = "rating_request"
CHANNELS = (Channel.telegram,)  # the rows this sender delivers; web rows are the web chat's


@dataclass(frozen=True)
class Due:
    """One claimed outbox row, with its recipient resolved to a Telegram chat."""

    id: int
    kind: str
    text: str
    payload: dict
    chat_id: int | None
    to_staff: bool
    case: object | None = None  # the case view, for staff cards


class OutboxSender:
    def __init__(self, gateway: Gateway, bot: Bot) -> None:
        self._gateway = gateway
        self._bot = bot
        self._last_sent: dict[int, float] = {}

    async def run_forever(self) -> None:
        interval = self._gateway.options.outbox_interval
        while True:
            try:
                await self.send_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox tick failed; trying again in %ss", interval)
            await asyncio.sleep(interval)

    async def send_due(self) -> int:
        """Send every due row once; returns how many were sent."""
        due = await asyncio.to_thread(self._claim)
        by_chat: dict[int | None, list[Due]] = defaultdict(list)
        for row in due:
            by_chat[row.chat_id].append(row)
        counts = await asyncio.gather(*(self._send_chat(chat, rows)
                                        for chat, rows in by_chat.items()))
        return sum(counts)

    async def _send_chat(self, chat_id: int | None, rows: list[Due]) -> int:
        """One chat's rows in order; after a "not now" failure the rest wait their turn."""
        results: list[tuple[int, delivery.Outcome]] = []
        unsent: list[int] = []
        for index, row in enumerate(rows):
            if chat_id is None:
                results.append((row.id, delivery.Outcome("recipient has no Telegram chat")))
                continue
            await self._pace(chat_id)
            outcome = await delivery.attempt(lambda row=row: self._send(row),
                                             f"outbox row {row.id}")
            if outcome.error is not None:
                log.warning("outbox row %s to chat %s: %s", row.id, chat_id, outcome.error)
            if row.kind != RATING_REQUEST or outcome.error is not None:
                results.append((row.id, outcome))  # a rating request records itself
            if outcome.stop_chat:
                unsent = [later.id for later in rows[index + 1:]]
                break
        await asyncio.to_thread(delivery.record, self._gateway.db, chat_id or 0, results,
                                unsent)
        return sum(1 for _, outcome in results if outcome.error is None)

    async def _pace(self, chat_id: int) -> None:
        """At most one message per ``per_chat_interval`` to one chat."""
        interval = self._gateway.options.per_chat_interval
        wait = self._last_sent.get(chat_id, 0.0) + interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_sent[chat_id] = time.monotonic()

    async def _send(self, row: Due) -> None:
        if row.kind == RATING_REQUEST:
            await self._start_rating(row)
            return
        if row.kind == delivery.REPLY:  # a turn's reply that could not be sent at once
            await send_reply(self._bot, self._gateway, row.chat_id, row.payload["reply"])
            return
        timezone = self._gateway.settings.timezone
        if row.to_staff and row.case is not None:
            text = f"{render.escape(row.text)}\n\n{render.case_card(row.case, timezone)}"
            await self._bot.send_message(row.chat_id, text, parse_mode=ParseMode.HTML,
                                         reply_markup=render.notice_keyboard(row.case,
                                                                             row.payload))
            return
        buttons = row.payload.get("buttons") or []
        await send_reply(self._bot, self._gateway, row.chat_id,
                         {"text": row.text, "buttons": buttons})

    async def _start_rating(self, row: Due) -> None:
        """Rasa's rating prompt, kept as reply rows together with this request marked
        done (so a failed send never asks Rasa twice), then sent."""
        try:
            messages = await self._gateway.rasa.trigger_intent(
                sender_id(row.chat_id), RATING_INTENT, {"case_no": row.payload["case_no"]})
        except RasaUnavailable as error:
            raise NetworkError(f"Rasa: {error}") from error  # not now: the outbox retries
        if not messages:  # the action server is down: the rating form could not ask
            raise NetworkError("Rasa: no messages (is the action server down?)")
        ids = await asyncio.to_thread(delivery.keep, self._gateway.db, row.chat_id, messages,
                                      None, row.id)
        await delivery.send_rows(self._gateway.db, row.chat_id, list(zip(ids, messages)),
                                 lambda reply: send_reply(self._bot, self._gateway,
                                                          row.chat_id, reply))

    # -- database (blocking) -------------------------------------------------------------
    def _claim(self) -> list[Due]:
        options = self._gateway.options
        with self._gateway.db.uow() as uow:
            rows = outbox.claim_due(uow, datetime.utcnow(), options.outbox_batch,
                                    channels=CHANNELS)
            due = [self._resolve(uow, row) for row in rows]
            uow.commit()
            return due

    def _resolve(self, uow, row) -> Due:
        payload = dict(row.payload or {})
        kind, _, number = row.recipient.partition(":")
        chat_id: int | None = None
        if kind == "staff":
            chat_id = uow.session.execute(
                select(Staff.telegram_user_id).where(Staff.id == int(number))).scalar()
        elif kind == "resident":
            external = uow.session.execute(
                select(ResidentIdentity.external_id).where(
                    ResidentIdentity.resident_id == int(number),
                    ResidentIdentity.channel == Channel.telegram)).scalar()
            chat_id = int(external) if external else None
        elif row.recipient.lstrip("-").isdigit():
            chat_id = int(row.recipient)
        case = None
        if kind == "staff" and payload.get("case_no"):
            case = cases.get_case(uow, payload["case_no"])
        return Due(row.id, row.kind, row.text, payload, chat_id, kind == "staff", case)
