"""Who is told what: outbox messages to staff (Telegram) and to the case's residents."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from minsheng.enums import CATEGORY_LABELS, ONLINE_CHANNELS, Category, Channel
from minsheng.models import Case, CaseFollower, InboundMessage, ResidentIdentity, Staff

from . import outbox

__all__ = ["ONLINE_CHANNELS", "case_summary", "online_channel", "resident_ids",
           "tell_residents", "tell_staff"]


def case_summary(case: Case) -> str:
    place = case.address or "".join(p for p in (case.xiaoqu, case.building, case.unit) if p)
    urgent = "【紧急】" if case.urgent else ""
    return (f"{urgent}工单 {case.case_no}｜{CATEGORY_LABELS[Category(case.category)]}"
            f"｜{place or '地点未填'}")


def tell_staff(uow, staff: Staff | None, kind: str, text: str, case: Case,
               now: datetime, dedupe_key: str | None = None,
               relation: str | None = None) -> bool:
    """Queue a Telegram message with the case card; False if the person has no Telegram.

    The card carries action buttons only for the case's owner at sending time
    (``to_staff_id``); ``relation`` names other buttons a non-owner is offered
    (``approver``: 同意 / 不同意延期; ``cohandler``: 进展; ``supervisor``: 催办).
    """
    if staff is None or not staff.telegram_user_id or not staff.active:
        return False
    payload = {"case_no": case.case_no, "to_staff_id": staff.id}
    if relation:
        payload["relation"] = relation
    outbox.enqueue(uow, Channel.telegram, f"staff:{staff.id}", kind, text,
                   payload=payload, dedupe_key=dedupe_key, now=now)
    return True


def resident_ids(uow, case: Case) -> list[int]:
    """The reporter first, then followers."""
    ids = [case.resident_id] if case.resident_id else []
    followers = uow.session.execute(select(CaseFollower.resident_id).where(
        CaseFollower.case_id == case.id).order_by(CaseFollower.id)).scalars()
    return ids + [r for r in followers if r not in ids]


def online_channel(uow, resident_id: int, prefer: Channel | None = None) -> Channel | None:
    """Where a resident is told: of their reachable online identities (not those who
    blocked us), the one they last wrote on; if they never wrote (their messages purged,
    or staff entered the case), ``prefer`` (the case's channel), then a fixed order."""
    identities = uow.session.execute(select(ResidentIdentity.channel,
                                            ResidentIdentity.external_id).where(
        ResidentIdentity.resident_id == resident_id,
        ResidentIdentity.channel.in_(ONLINE_CHANNELS),
        ResidentIdentity.unreachable_at.is_(None))).all()
    # Every channel stores a message's sender as "<channel>:<external id>".
    senders = {f"{Channel(c).value}:{external}"[:100]: Channel(c) for c, external in identities}
    if not senders:
        return None
    last = uow.session.execute(select(InboundMessage.sender).where(
        InboundMessage.sender.in_(list(senders)))
        .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
        .limit(1)).scalar()
    if last is not None:
        return senders[last]
    channels = set(senders.values())
    if prefer in channels:
        return prefer
    return next(c for c in ONLINE_CHANNELS if c in channels)


def tell_residents(uow, case: Case, kind: str, text: str, now: datetime,
                   payload: dict | None = None, dedupe_prefix: str | None = None) -> int:
    """Queue a message to the reporter and followers reachable online; returns how many."""
    sent = 0
    for resident_id in resident_ids(uow, case):
        channel = online_channel(uow, resident_id, prefer=Channel(case.channel))
        if channel is None:
            continue
        key = f"{dedupe_prefix}:{resident_id}" if dedupe_prefix else None
        outbox.enqueue(uow, channel, f"resident:{resident_id}", kind, text,
                       payload={"case_no": case.case_no, **(payload or {})},
                       dedupe_key=key, now=now)
        sent += 1
    return sent
