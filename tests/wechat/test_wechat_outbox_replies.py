"""A WeChat turn's answer leaves through the outbox like every other channel's: kept with
the message processed, the passive reply's row marked sent, the rest sent by the API —
and a row kept by a process that died before sending goes out from the core sender."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bot.core.outbox import OutboxSender
from minsheng.clock import utcnow
from minsheng.enums import Channel
from minsheng.models import InboundMessage, OutboxMessage
from tests.wechat.conftest import message_xml, post_message, wait_for
from tests.wechat.test_wechat_channel import SlowRasa, passive

OPENID = "oResident-Outbox-01"


def reply_rows(db) -> list[dict]:
    with db.uow() as uow:
        rows = uow.session.execute(select(OutboxMessage).where(
            OutboxMessage.channel == Channel.wechat).order_by(OutboxMessage.id)).scalars()
        return [{"id": r.id, "kind": r.kind, "recipient": r.recipient, "text": r.text,
                 "sent": r.sent_at is not None, "attempts": r.attempts} for r in rows]


def processed(db, msg_id: int) -> bool:
    with db.uow() as uow:
        return uow.session.execute(select(InboundMessage.processed_at).where(
            InboundMessage.channel == Channel.wechat,
            InboundMessage.external_id == str(msg_id))).scalar() is not None


def text(content: str, msg_id: int) -> bytes:
    return message_xml(OPENID, "text", {"Content": content}, msg_id=msg_id)


def test_the_passive_reply_is_an_outbox_row_marked_sent_and_the_message_processed(
        client, db, wechat):
    reply = passive(post_message(client, text("幸福小区3号楼楼道堆满杂物", 501)))
    [row] = reply_rows(db)
    assert row["kind"] == "reply" and row["recipient"] == f"openid:{OPENID}"
    assert row["text"] == reply["Content"]
    assert row["sent"] and row["attempts"] == 0  # never claimed: the response carried it
    assert processed(db, 501)
    assert wechat.custom_sends == []


def test_a_kept_reply_whose_process_died_before_sending_goes_out_from_the_sender(
        client, db, wechat):
    channel = client.app.state.wechat
    passive(post_message(client, text("楼道堆满杂物", 502)))  # offers 1. 确认提交 2. 取消
    with db.uow() as uow:  # as if the response never went: unsent, its lease run out
        uow.session.execute(update(OutboxMessage).values(
            sent_at=None, next_attempt_at=utcnow() - timedelta(seconds=1)))
        uow.commit()
    [row] = reply_rows(db)
    sends = wait_for(lambda: wechat.custom_sends)
    assert sends[0].body["text"]["content"] == row["text"]
    assert "1. 确认提交" in row["text"]
    assert channel.offers.answer(OPENID, "1").payload == "/affirm"  # not withdrawn
    assert wait_for(lambda: reply_rows(db)[0]["sent"])


def test_a_late_reply_is_a_row_sent_by_the_api(tmp_path, db, wechat):
    from fastapi.testclient import TestClient

    from tests.wechat.conftest import wechat_settings
    from web.app import create_app

    slow = SlowRasa().start()
    try:
        app = create_app(wechat_settings(tmp_path, db, slow, wechat))
        with TestClient(app) as client:
            app.state.wechat.passive_deadline = 0.2
            assert post_message(client, text("垃圾没人清运", 503)).text == "success"
            wait_for(lambda: wechat.custom_sends)
            [row] = wait_for(lambda: [r for r in reply_rows(db) if r["sent"]])
        assert row["text"] == wechat.custom_sends[0].body["text"]["content"]
        assert processed(db, 503)
    finally:
        slow.stop()


async def test_sender_and_turn_share_one_adapter_and_never_send_a_row_twice(
        client, db, wechat):
    passive(post_message(client, text("你好", 504)))
    sender: OutboxSender = client.app.state.wechat_sender
    assert sender.adapters == {Channel.wechat: client.app.state.wechat}
    assert await sender.send_due() == 0
    assert wechat.custom_sends == []
