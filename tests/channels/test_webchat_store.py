"""The web chat store's turn on real databases (SQLite and PostgreSQL): the replies kept as
delivered outbox rows with the ids the page draws them by, the message marked answered in
the same transaction, the offer replaced, and nothing kept when another process answered."""
from __future__ import annotations

from sqlalchemy import select

from bot.core.inbound import InboundStore, Incoming
from bot.webchat.store import WebChatStore, recipient_of, sender_of
from minsheng.db import Database
from minsheng.enums import Channel
from minsheng.models import InboundMessage, OfferedButton, OutboxMessage

REPLIES = [{"text": "请问在哪里？", "buttons": [{"title": "跳过", "payload": "/skip"},
                                              {"title": "取消", "payload": "/cancel"}]},
           {"text": ""},  # nothing to show: no row
           {"text": "也可以发位置。", "image": "https://example.org/map.png"}]


def turn(db: Database, external_id: str, text: str):
    store, inbox = WebChatStore(db), InboundStore(db, Channel.web)
    resident_id = store.resident_id(external_id, create=True)
    inbox.add(Incoming(f"{external_id}-{text}", sender_of(external_id), {"text": text}))
    held = inbox.claim_next(sender_of(external_id))
    return store, resident_id, held, store.answer(
        resident_id, REPLIES, answered=inbox.answered(held.key),
        unless=inbox.answered_already(held.key))


def test_replies_are_delivered_rows_with_their_ids_and_the_offer(database):
    store, resident_id, held, shown = turn(database, "page-a", "你好")
    assert [(m.text, m.buttons, m.image) for m in shown] == [
        ("请问在哪里？", REPLIES[0]["buttons"], ""),
        ("也可以发位置。", [], "https://example.org/map.png")]
    with database.uow(read_only=True) as uow:
        rows = uow.session.execute(select(OutboxMessage).where(
            OutboxMessage.recipient == recipient_of(resident_id))
            .order_by(OutboxMessage.id)).scalars().all()
        assert [r.id for r in rows] == [m.id for m in shown]
        assert all(r.sent_at is not None and r.channel == Channel.web for r in rows)
        assert rows[0].payload["buttons"] == REPLIES[0]["buttons"]
        answered = uow.session.execute(select(InboundMessage).where(
            InboundMessage.external_id == held.key)).scalar_one()
        assert answered.processed_at is not None and answered.attempts == 1
        assert answered.claimed_until is None
    assert store.offers(resident_id) == ["/skip", "/cancel"]
    assert store.offered_to("page-a", "/cancel") == (resident_id, "取消")
    assert store.offered_to("page-a", "/other") == (resident_id, None)
    assert store.offered_to("no-such-page", "/skip") == (None, None)


def test_a_reply_without_buttons_withdraws_the_offer_and_a_later_turn_counts_on(database):
    store, resident_id, _, first = turn(database, "page-b", "第一句")
    store.answer(resident_id, [{"text": "好的"}])
    assert store.offers(resident_id) == []
    _, _, _, second = turn(database, "page-b", "第二句")
    assert min(m.id for m in second) > max(m.id for m in first)
    assert store.offers(resident_id) == ["/skip", "/cancel"]


def test_nothing_is_kept_when_another_process_answered_first(database):
    store, inbox = WebChatStore(database), InboundStore(database, Channel.web)
    resident_id = store.resident_id("page-c", create=True)
    inbox.add(Incoming("page-c-1", sender_of("page-c"), {"text": "x"}))
    held = inbox.claim_next(sender_of("page-c"))
    with database.uow() as uow:  # the other process's answer
        inbox.answered(held.key)(uow, held.held_until)
        uow.commit()
    assert store.answer(resident_id, REPLIES, answered=inbox.answered(held.key),
                        unless=inbox.answered_already(held.key)) == []
    with database.uow(read_only=True) as uow:
        assert uow.session.execute(select(OutboxMessage.id).where(
            OutboxMessage.recipient == recipient_of(resident_id))).first() is None
        assert uow.session.execute(select(OfferedButton.id).where(
            OfferedButton.resident_id == resident_id)).first() is None
