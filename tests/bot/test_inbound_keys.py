"""Inbound dedupe by message, not by update id: Telegram's id restart and a second bot on
the same database lose nothing; rows stored under the old keys are adopted."""
from __future__ import annotations

from sqlalchemy import select

from bot.inbound import TelegramInbox
from minsheng.clock import utcnow
from minsheng.enums import Channel
from minsheng.models import InboundMessage
from tests.botapi import updates


def with_id(update: dict, update_id: int) -> dict:
    return {**update, "update_id": update_id}


def test_a_reused_update_id_with_a_new_message_is_a_new_update(db):
    store = TelegramInbox(db, "7000000001")
    first = store.save(with_id(updates.message_update(4201, "路灯坏了"), 1000))
    store.mark_processed(first.key)
    again = store.save(with_id(updates.message_update(4201, "楼道堆满杂物"), 1000))
    assert again.key != first.key and not again.processed


def test_the_same_message_delivered_twice_is_stored_once(db):
    store = TelegramInbox(db, "7000000001")
    update = with_id(updates.message_update(4201, "路灯坏了"), 1001)
    store.mark_processed(store.save(update).key)
    assert store.save(with_id(update, 5555)).processed  # redelivered, even under a new id


def test_two_bots_on_one_database_keep_their_messages_apart(db):
    update = with_id(updates.message_update(4201, "路灯坏了"), 1002)
    resident_bot, staff_bot = TelegramInbox(db, "7000000001"), TelegramInbox(db, "7000000002")
    resident_bot.mark_processed(resident_bot.save(update).key)
    assert not staff_bot.save(update).processed


def test_an_edit_and_a_button_press_have_keys_of_their_own(db):
    store = TelegramInbox(db, "7000000001")
    keys = {store.key(updates.message_update(4201, "a")),
            store.key(updates.edited_update(4201, "b")),
            store.key(updates.callback_update(4201, "r:1"))}
    assert len(keys) == 3 and all(k.startswith("7000000001:") for k in keys)


def test_unanswered_rows_stored_by_update_id_are_adopted_once(db):
    store = TelegramInbox(db, "7000000001")
    waiting = with_id(updates.message_update(4201, "还没回复的"), 2000)
    answered_again = with_id(updates.message_update(4201, "重新存过的"), 2001)
    with db.uow() as uow:
        for update in (waiting, answered_again):
            uow.session.add(InboundMessage(channel=Channel.telegram,
                                           external_id=str(update["update_id"]),
                                           payload=update, received_at=utcnow()))
        uow.commit()
    store.mark_processed(store.save(answered_again).key)
    assert store.adopt_legacy_keys() == 1
    pending = store.unprocessed(utcnow(), max_attempts=20)
    assert [p.key for p in pending] == [store.key(waiting)]
    with db.uow() as uow:
        legacy = uow.session.execute(select(InboundMessage).where(
            InboundMessage.external_id == "2001")).scalar_one()
        assert legacy.processed_at is not None
