"""A resident with several identities is told on the channel they last wrote on; one who
never wrote (their messages purged) on the channel the case came in by."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from minsheng.clock import utcnow
from minsheng.enums import Channel
from minsheng.models import Case, InboundMessage, OutboxMessage, ResidentIdentity
from minsheng.services import notify
from tests.web.conftest import open_case, seed_world

WEB_ID = "web-cookie-0001"


def case_with_two_identities(db, channel: str = "telegram") -> tuple[str, int, str]:
    """A case reported on ``channel``; its resident also has a web-chat identity."""
    seed_world(db)
    case_no = open_case(db, "幸福小区楼道堆满杂物", "幸福小区", channel=channel)
    with db.uow() as uow:
        case = uow.session.execute(select(Case).where(Case.case_no == case_no)).scalar_one()
        first = uow.session.execute(select(ResidentIdentity).where(
            ResidentIdentity.resident_id == case.resident_id)).scalar_one()
        uow.session.add(ResidentIdentity(resident_id=case.resident_id, channel=Channel.web,
                                         external_id=WEB_ID))
        uow.commit()
        return case_no, case.resident_id, f"{Channel(first.channel).value}:{first.external_id}"


def wrote(db, sender: str, minutes_ago: int) -> None:
    with db.uow() as uow:
        channel = Channel(sender.split(":", 1)[0])
        uow.session.add(InboundMessage(
            channel=channel, external_id=f"m-{sender}-{minutes_ago}", sender=sender,
            payload={}, received_at=utcnow() - timedelta(minutes=minutes_ago)))
        uow.commit()


def notice_channel(db, case_no: str, kind: str) -> Channel:
    with db.uow() as uow:
        case = uow.session.execute(select(Case).where(Case.case_no == case_no)).scalar_one()
        assert notify.tell_residents(uow, case, kind, "您的工单有新进展。", utcnow()) == 1
        uow.commit()
    with db.uow() as uow:
        return Channel(uow.session.execute(select(OutboxMessage.channel).where(
            OutboxMessage.kind == kind)).scalar_one())


def test_a_notice_goes_to_the_channel_the_resident_last_wrote_on(db):
    case_no, _, telegram_sender = case_with_two_identities(db)
    wrote(db, telegram_sender, minutes_ago=30)
    wrote(db, f"web:{WEB_ID}", minutes_ago=5)
    assert notice_channel(db, case_no, "progress") == Channel.web
    wrote(db, telegram_sender, minutes_ago=1)
    assert notice_channel(db, case_no, "escalated") == Channel.telegram


def test_a_resident_who_never_wrote_is_told_on_the_channel_the_case_came_in_by(db):
    case_no, _, _ = case_with_two_identities(db, channel="wechat")
    assert notice_channel(db, case_no, "progress") == Channel.wechat


def test_the_last_channel_is_skipped_once_the_resident_blocked_it(db):
    case_no, resident_id, telegram_sender = case_with_two_identities(db)
    wrote(db, f"web:{WEB_ID}", minutes_ago=60)
    wrote(db, telegram_sender, minutes_ago=1)
    with db.uow() as uow:
        identity = uow.session.execute(select(ResidentIdentity).where(
            ResidentIdentity.resident_id == resident_id,
            ResidentIdentity.channel == Channel.telegram)).scalar_one()
        identity.unreachable_at = utcnow()
        uow.commit()
    assert notice_channel(db, case_no, "progress") == Channel.web
