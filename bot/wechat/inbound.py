"""WeChat's side of the core inbound store (bot/core/inbound.py).

WeChat re-sends a message it got no answer to within 5 seconds (three times, same
MsgId; events carry no MsgId and are keyed by FromUserName+CreateTime). A re-sent one
finds its row and is not processed again. An unsubscribe marks the resident's WeChat
identity unreachable (notices stop); anything they send later makes it reachable again.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from bot.core.inbound import InboundStore, Incoming, Stored
from bot.wechat.protocol import Inbound
from minsheng.clock import utcnow
from minsheng.db import Database
from minsheng.enums import Channel
from minsheng.models import ResidentIdentity


def mark_unreachable(uow, openid: str, now: datetime) -> None:
    """WeChat refuses to send to them (they unfollowed the account: 43004)."""
    uow.session.execute(update(ResidentIdentity).where(
        ResidentIdentity.channel == Channel.wechat,
        ResidentIdentity.external_id == openid).values(unreachable_at=now))


class WeChatInbox(InboundStore):
    """The core store for WeChat messages."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, Channel.wechat)

    def receive(self, inbound: Inbound) -> Stored | None:
        """Store ``inbound``, held by this process; None when it was stored before (a
        re-delivery)."""
        incoming = Incoming(inbound.external_id, f"wechat:{inbound.openid}"[:100],
                            inbound.fields)
        stored = self.add(incoming, claim=True, also=lambda uow: _reachability(uow, inbound))
        return stored if stored.fresh else None


def _reachability(uow, inbound: Inbound) -> None:
    unsubscribed = inbound.kind == "unsubscribe"
    uow.session.execute(update(ResidentIdentity).where(
        ResidentIdentity.channel == Channel.wechat,
        ResidentIdentity.external_id == inbound.openid,
        ResidentIdentity.unreachable_at.is_(None) if unsubscribed
        else ResidentIdentity.unreachable_at.is_not(None),
    ).values(unreachable_at=utcnow() if unsubscribed else None))
