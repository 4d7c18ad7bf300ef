"""Each WeChat message is stored in ``inbound_messages`` before it is processed, once.

WeChat re-sends a message it got no answer to within 5 seconds (three times, same
MsgId; events carry no MsgId and are keyed by FromUserName+CreateTime). A re-sent one
finds its row and is not processed again. An unsubscribe marks the resident's WeChat
identity unreachable (notices stop); anything they send later makes it reachable again.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.inbound import RASA_UNAVAILABLE
from bot.wechat.protocol import Inbound
from minsheng.clock import utcnow
from minsheng.db import Database
from minsheng.enums import Channel
from minsheng.models import InboundMessage, ResidentIdentity


def mark_unreachable(uow, openid: str, now: datetime) -> None:
    """WeChat refuses to send to them (they unfollowed the account: 43004)."""
    uow.session.execute(update(ResidentIdentity).where(
        ResidentIdentity.channel == Channel.wechat,
        ResidentIdentity.external_id == openid).values(unreachable_at=now))


class WeChatInbox:
    """The ``inbound_messages`` rows of the WeChat channel (blocking calls)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def save(self, inbound: Inbound) -> bool:
        """Store ``inbound``; False when it was stored before (a re-delivery)."""
        with self._db.uow() as uow:
            uow.session.add(InboundMessage(
                channel=Channel.wechat, external_id=inbound.external_id,
                sender=f"wechat:{inbound.openid}"[:100], payload=inbound.fields,
                received_at=utcnow(), attempts=0))
            try:
                uow.session.flush()
            except IntegrityError:
                uow.session.rollback()
                return False
            self._reachability(uow, inbound)
            uow.commit()
            return True

    @staticmethod
    def _reachability(uow, inbound: Inbound) -> None:
        unsubscribed = inbound.kind == "unsubscribe"
        uow.session.execute(update(ResidentIdentity).where(
            ResidentIdentity.channel == Channel.wechat,
            ResidentIdentity.external_id == inbound.openid,
            ResidentIdentity.unreachable_at.is_(None) if unsubscribed
            else ResidentIdentity.unreachable_at.is_not(None),
        ).values(unreachable_at=utcnow() if unsubscribed else None))

    def answered(self, external_id: str):
        """``also`` for ``bot.core.outbox.keep``: the message processed in the same
        transaction as its kept replies."""
        def mark(uow, now) -> None:
            uow.session.execute(update(InboundMessage).where(
                InboundMessage.channel == Channel.wechat,
                InboundMessage.external_id == external_id).values(
                processed_at=now, attempts=InboundMessage.attempts + 1, last_error=None))
        return mark

    def mark_failed(self, external_id: str, error: str, backoff: float = 0.0) -> None:
        """One more failed attempt; not retried for ``backoff`` seconds."""
        until = utcnow() + timedelta(seconds=backoff) if backoff > 0 else None
        self._set(external_id, attempts=InboundMessage.attempts + 1, last_error=error[:2000],
                  claimed_until=until)

    def attempts(self, external_id: str) -> int:
        with self._db.uow() as uow:
            return uow.session.execute(select(InboundMessage.attempts).where(
                InboundMessage.channel == Channel.wechat,
                InboundMessage.external_id == external_id)).scalar() or 0

    def unprocessed(self, stale_before: datetime, max_attempts: int,
                    limit: int = 20) -> list[tuple[str, dict]]:
        """(external_id, fields) to retry: failed before (Rasa down: however often), or
        stored before ``stale_before`` and never finished (the process died mid-turn); none
        backing off now."""
        now = utcnow()
        with self._db.uow() as uow:
            rows = uow.session.execute(select(InboundMessage).where(
                InboundMessage.channel == Channel.wechat,
                InboundMessage.processed_at.is_(None),
                (InboundMessage.attempts < max_attempts)
                | InboundMessage.last_error.startswith(RASA_UNAVAILABLE),
                (InboundMessage.attempts > 0) | (InboundMessage.received_at < stale_before),
                InboundMessage.claimed_until.is_(None) | (InboundMessage.claimed_until <= now),
            ).order_by(InboundMessage.id).limit(limit)).scalars().all()
            return [(r.external_id, dict(r.payload or {})) for r in rows]

    def _set(self, external_id: str, **values) -> None:
        with self._db.uow() as uow:
            uow.session.execute(update(InboundMessage).where(
                InboundMessage.channel == Channel.wechat,
                InboundMessage.external_id == external_id).values(**values))
            uow.commit()
