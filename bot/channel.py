"""The Telegram adapter for the core outbox sender (bot/core/outbox.py).

It resolves ``staff:<id>`` / ``resident:<id>`` (and a kept reply's own chat id) to a
Telegram chat, renders a row (a staff row carries the case card and its buttons; a
resident's Rasa buttons become an inline keyboard) and sends it, waiting out flood
control as ``bot.delivery.attempt`` does. Pacing, order, retries and the rating request
are the core's.
"""
from __future__ import annotations

import asyncio

from sqlalchemy import select
from telegram import Bot
from telegram.constants import ParseMode

from bot import delivery, render
from bot.core.contract import Capabilities
from bot.core.outbox import Due, Outcome
from bot.gateway import Gateway
from bot.resident import send_reply, sender_id
from minsheng.enums import Channel
from minsheng.models import ResidentIdentity, Staff
from minsheng.services import cases


class TelegramChannel:
    channel = Channel.telegram
    # Inline keyboards; photos, map locations and contacts from the client; push any time.
    capabilities = Capabilities(buttons="inline", photos=True, location=True, push=True)

    def __init__(self, gateway: Gateway, bot: Bot) -> None:
        self.gateway = gateway
        self.bot = bot
        self.rasa = gateway.rasa
        self.per_recipient_interval = gateway.options.per_chat_interval

    def address(self, uow, recipient: str) -> int | None:
        kind, _, number = recipient.partition(":")
        if kind == "staff" and number.isdigit():
            return uow.session.execute(
                select(Staff.telegram_user_id).where(Staff.id == int(number))).scalar()
        if kind == "resident" and number.isdigit():
            external = uow.session.execute(select(ResidentIdentity.external_id).where(
                ResidentIdentity.resident_id == int(number),
                ResidentIdentity.channel == Channel.telegram)).scalar()
            return int(external) if external else None
        if recipient.lstrip("-").isdigit():  # a kept reply: the chat id itself
            return int(recipient)
        return None

    def sender_id(self, address: int) -> str:
        return sender_id(address)  # a private chat's id is its user's id

    def reply_recipient(self, address: int) -> str:
        return str(address)

    async def deliver(self, due: Due) -> Outcome:
        return await delivery.attempt(lambda: self._send(due), f"outbox row {due.id}")

    def mark_unreachable(self, uow, address: int, now) -> None:
        delivery.mark_unreachable(uow, address, now)

    async def _send(self, due: Due) -> None:
        chat_id = int(due.address)
        if due.recipient.startswith("staff:") and due.payload.get("case_no"):
            case = await asyncio.to_thread(self._case, due.payload["case_no"])
            if case is not None:
                timezone = self.gateway.settings.timezone
                text = f"{render.escape(due.text)}\n\n{render.case_card(case, timezone)}"
                await self.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML,
                                            reply_markup=render.notice_keyboard(case, due.payload))
                return
        await send_reply(self.bot, self.gateway, chat_id, due.message)

    def _case(self, case_no: str):
        with self.gateway.db.uow() as uow:
            return cases.get_case(uow, case_no)
