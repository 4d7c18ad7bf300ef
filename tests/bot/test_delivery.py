"""Replies leave through the outbox: flood control is waited out without asking Rasa
again, a resident who blocked the bot is marked unreachable, a reply that cannot be sent
now is sent later from the outbox, and an edited message is not a new turn."""
from __future__ import annotations

import asyncio

from sqlalchemy import select, update

from minsheng.clock import utcnow
from minsheng.enums import Channel
from minsheng.models import OutboxMessage, ResidentIdentity
from minsheng.services import notify
from minsheng.services.common import ensure_resident
from minsheng.services.contract import ResidentRef
from tests.botapi import updates
from tests.botapi.fake_rasa import FakeRasa
from tests.botapi.server import BotApiServer

RESIDENT = 421000777


async def wait_until(condition, timeout: float = 8.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := condition()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
    return value


def replies(db) -> list[OutboxMessage]:
    with db.uow() as uow:
        rows = uow.session.execute(select(OutboxMessage).where(
            OutboxMessage.recipient == str(RESIDENT)).order_by(OutboxMessage.id)).scalars().all()
        uow.session.expunge_all()
        return rows


async def test_flood_control_is_waited_out_and_the_turn_is_not_sent_to_rasa_again(
        gateway, bot_api: BotApiServer, rasa: FakeRasa, db):
    bot_api.fail("sendMessage", times=1, error_code=429,
                 description="Too Many Requests: retry after 1", parameters={"retry_after": 1})
    await bot_api.push(updates.message_update(RESIDENT, "楼道堆满杂物"))
    [reply] = await bot_api.wait_for_messages(RESIDENT, timeout=8)
    assert reply.text
    assert rasa.texts_from(f"telegram:{RESIDENT}") == ["楼道堆满杂物"]  # asked once
    rows = await wait_until(lambda: [r for r in replies(db) if r.sent_at])
    assert len(rows) == len(replies(db)) and rows[0].attempts == 0


async def test_a_resident_who_blocked_the_bot_is_marked_unreachable_and_not_tried_again(
        gateway, bot_api: BotApiServer, rasa: FakeRasa, db):
    with db.uow() as uow:
        resident = ensure_resident(uow.session, ResidentRef(Channel.telegram, str(RESIDENT)),
                                   None)
        uow.commit()
        resident_id = resident.id
    bot_api.fail("sendMessage", times=1, error_code=403,
                 description="Forbidden: bot was blocked by the user")
    await bot_api.push(updates.message_update(RESIDENT, "楼道堆满杂物"))
    rows = await wait_until(lambda: [r for r in replies(db) if r.failed_at])
    assert all(r.failed_at for r in replies(db))
    assert "blocked" in rows[0].last_error
    with db.uow() as uow:
        assert uow.session.execute(select(ResidentIdentity.unreachable_at)).scalar()
        assert notify.online_channel(uow, resident_id) is None  # no notice is queued
    assert rows[0].sent_at is None and len(bot_api.sent_to(RESIDENT)) == 0
    assert rasa.texts_from(f"telegram:{RESIDENT}") == ["楼道堆满杂物"]
    await bot_api.push(updates.message_update(RESIDENT, "我又回来了"))  # unblocked, writes
    await bot_api.wait_for_messages(RESIDENT)
    with db.uow() as uow:
        assert uow.session.execute(select(ResidentIdentity.unreachable_at)).scalar() is None
        assert notify.online_channel(uow, resident_id) == Channel.telegram


async def test_a_reply_that_cannot_be_sent_now_is_sent_later_from_the_outbox_once(
        gateway, bot_api: BotApiServer, rasa: FakeRasa, db):
    from bot.delivery import NETWORK_ATTEMPTS

    bot_api.fail("sendMessage", times=NETWORK_ATTEMPTS, error_code=502,
                 description="Bad Gateway")
    await bot_api.push(updates.message_update(RESIDENT, "楼道堆满杂物"))
    await wait_until(lambda: [r for r in replies(db) if r.last_error])
    with db.uow() as uow:  # the back-off would wait; bring the retry forward
        uow.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
        uow.commit()
    await bot_api.wait_for_messages(RESIDENT)
    await wait_until(lambda: all(r.sent_at for r in replies(db)))
    assert rasa.texts_from(f"telegram:{RESIDENT}") == ["楼道堆满杂物"]
    assert len(bot_api.sent_to(RESIDENT)) == len(replies(db))


async def test_an_edited_message_is_answered_but_not_taken_as_a_new_turn(
        gateway, bot_api: BotApiServer, rasa: FakeRasa):
    await bot_api.push(updates.edited_update(RESIDENT, "改成：楼道堆满纸箱"))
    [reply] = await bot_api.wait_for_messages(RESIDENT)
    assert "修改过的消息不会重新处理" in reply.text
    assert rasa.received == []


async def test_a_row_that_went_is_recorded_before_the_next_one_is_tried(gateway, db):
    """A gateway killed between two rows of one turn (here: cancelled while sending the
    second) has already recorded the first as sent, so no other gateway sends it again."""
    from bot import delivery

    inbound = gateway.bot_data["gateway"].inbound
    ids = await asyncio.to_thread(delivery.keep, db, inbound, RESIDENT,
                                  [{"text": "第一条"}, {"text": "第二条"}], None)
    sent: list[str] = []

    async def send_one(reply):
        if sent:
            raise asyncio.CancelledError  # the process dies here
        sent.append(reply["text"])

    try:
        await delivery.send_rows(db, RESIDENT, list(zip(ids, [{"text": "第一条"},
                                                              {"text": "第二条"}])), send_one)
    except asyncio.CancelledError:
        pass
    rows = {row.id: row for row in replies(db)}
    assert sent == ["第一条"]
    assert rows[ids[0]].sent_at is not None
    assert rows[ids[1]].sent_at is None
