"""WeChat notices: the outbox's ``wechat`` rows become customer-service messages.

It runs inside the web process (web/wechat.py starts it with the app when WeChat is
configured), next to the ``/wechat`` endpoint, so that late replies and notices share one
access token: every ``/cgi-bin/token`` call makes the previous token expire within minutes.
Each tick claims due WeChat rows only, resolves ``resident:<id>`` to the resident's
openid and sends. Outside the 48-hour customer-service window WeChat answers 45015; the
notice then goes out as a template message when ``MINSHENG_WECHAT_TEMPLATE_ID`` is set,
else the row is marked failed with that reason. Retries follow the outbox's back-off.
The same loop runs again the residents' messages that Rasa could not take (it was down).
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.core.rasa import RasaUnavailable
from bot.outbox_sender import RATING_INTENT
from bot.wechat import render
from bot.wechat.api import NOT_FOLLOWING, WINDOW_CLOSED, WeChatError
from bot.wechat.channel import WeChatChannel, sender_id
from minsheng.clock import utcnow
from minsheng.db import Database
from minsheng.enums import Channel
from minsheng.models import ResidentIdentity
from minsheng.services import outbox

log = logging.getLogger(__name__)

WINDOW_CLOSED_NO_TEMPLATE = (
    f"{WINDOW_CLOSED}: 居民 48 小时内未发消息，客服消息窗口已关闭，且未配置模板消息 "
    "(MINSHENG_WECHAT_TEMPLATE_ID)")
TEMPLATE_TITLE = "民生说事 · 工单进展通知"
TEMPLATE_REMARK_LIMIT = 200
KIND_LABELS = {"rating_request": "办结待评价"}


@dataclass(frozen=True)
class Due:
    """One claimed WeChat outbox row, with its recipient resolved to an openid."""

    id: int
    kind: str
    text: str
    payload: dict
    openid: str | None


class WeChatSender:
    def __init__(self, db: Database, channel: WeChatChannel, template_id: str | None,
                 timezone_name: str, batch: int = 20, interval: float = 2.0) -> None:
        self._db = db
        self._channel = channel
        self._template_id = template_id
        self._tz = ZoneInfo(timezone_name)
        self._batch = batch
        self.interval = interval

    @property
    def channel(self) -> WeChatChannel:
        return self._channel

    async def run_forever(self) -> None:
        """Each tick: the due notices, then the messages Rasa could not take before."""
        while True:
            try:
                await self.send_due()
                await self._channel.retry_unprocessed()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("WeChat outbox tick failed; trying again in %ss", self.interval)
            await asyncio.sleep(self.interval)

    async def send_due(self) -> int:
        """Send every due WeChat row once; returns how many were sent."""
        due = await asyncio.to_thread(self._claim)
        outcomes = [(row.id, await self._send(row)) for row in due]
        await asyncio.to_thread(self._record, outcomes)
        return sum(1 for _, error in outcomes if error is None)

    async def _send(self, row: Due) -> str | None:
        """None when sent, else why not."""
        if row.openid is None:
            return "recipient has no WeChat openid (only residents are reached on WeChat)"
        try:
            text = await self._text_of(row)
            try:
                await self._channel.deliver_texts(row.openid, render.split(text))
            except WeChatError as error:
                if error.errcode != WINDOW_CLOSED:
                    raise
                if not self._template_id:
                    return WINDOW_CLOSED_NO_TEMPLATE
                await self._channel.api.send_template(row.openid, self._template_id,
                                                      self.template_data(row, text))
            return None
        except (WeChatError, RasaUnavailable) as error:
            log.warning("WeChat outbox row %s failed: %s", row.id, error)
            if isinstance(error, WeChatError) and error.errcode == NOT_FOLLOWING:
                await asyncio.to_thread(self._channel.inbox.mark_unreachable, row.openid)
            return f"{type(error).__name__}: {error}"

    async def _text_of(self, row: Due) -> str:
        assert row.openid is not None
        if row.kind == "rating_request":
            replies = await self._channel.rasa.trigger_intent(
                sender_id(row.openid), RATING_INTENT, {"case_no": row.payload["case_no"]})
        else:
            replies = [{"text": row.text, "buttons": row.payload.get("buttons") or []}]
        return self._channel.reply_text(row.openid, replies)

    def template_data(self, row: Due, text: str) -> dict:
        """The template's fields: first, keyword1 (工单号), keyword2 (事项), keyword3 (时间),
        remark (the notice itself). Register a template with these fields."""
        now = datetime.now(timezone.utc).astimezone(self._tz)
        return {
            "first": {"value": TEMPLATE_TITLE},
            "keyword1": {"value": str(row.payload.get("case_no") or "—")},
            "keyword2": {"value": KIND_LABELS.get(row.kind, "工单通知")},
            "keyword3": {"value": now.strftime("%Y-%m-%d %H:%M")},
            "remark": {"value": text[:TEMPLATE_REMARK_LIMIT]},
        }

    # -- database (blocking) -------------------------------------------------------------
    def _claim(self) -> list[Due]:
        with self._db.uow() as uow:
            rows = outbox.claim_due(uow, utcnow(), self._batch,
                                    channels=[Channel.wechat])
            due = [Due(r.id, r.kind, r.text, dict(r.payload or {}), self._openid(uow, r))
                   for r in rows]
            uow.commit()
            return due

    def _openid(self, uow, row) -> str | None:
        kind, _, number = row.recipient.partition(":")
        if kind != "resident" or not number.isdigit():
            return None
        return uow.session.execute(select(ResidentIdentity.external_id).where(
            ResidentIdentity.resident_id == int(number),
            ResidentIdentity.channel == Channel.wechat)).scalar()

    def _record(self, outcomes: list[tuple[int, str | None]]) -> None:
        if not outcomes:
            return
        with self._db.uow() as uow:
            for row_id, error in outcomes:
                if error is None:
                    outbox.mark_sent(uow, row_id)
                else:
                    outbox.mark_failed(uow, row_id, error)
            uow.commit()
