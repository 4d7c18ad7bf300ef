"""The WeChat Official Account channel, through GET|POST /wechat of the real web app."""
from __future__ import annotations

import json
import time
from pathlib import Path
from xml.etree import ElementTree

from sqlalchemy import func, select, update

from minsheng.enums import Channel
from minsheng.models import InboundMessage
from tests.web.fake_rasa import FakeRasa
from tests.wechat.conftest import (
    ACCOUNT,
    message_xml,
    png_bytes,
    post_message,
    signed_query,
    wait_for,
)

OPENID = "oResident-0001"


def text_message(content: str, msg_id: int, openid: str = OPENID) -> bytes:
    return message_xml(openid, "text", {"Content": content}, msg_id=msg_id)


def stored(db) -> list[tuple[str, str, bool]]:
    """(external_id, sender, processed) of the stored WeChat messages."""
    with db.uow() as uow:
        rows = uow.session.execute(select(InboundMessage).where(
            InboundMessage.channel == Channel.wechat).order_by(InboundMessage.id)).scalars()
        return [(r.external_id, r.sender, r.processed_at is not None) for r in rows]


def passive(response) -> dict:
    root = ElementTree.fromstring(response.text)
    return {child.tag: child.text for child in root}


def test_the_server_url_check_echoes_echostr_when_the_signature_is_valid(client):
    response = client.get(f"/wechat?{signed_query(echostr='echo-4711')}")
    assert response.status_code == 200
    assert response.text == "echo-4711"


def test_a_bad_signature_gets_403_and_nothing_is_stored_or_processed(client, db, rasa):
    forged = signed_query(token="notOurToken")
    assert client.get(f"/wechat?{forged}&echostr=x").status_code == 403
    response = post_message(client, text_message("楼道堆满杂物", 1), query=forged)
    assert response.status_code == 403
    stale = f"signature=x&timestamp={int(time.time()) - 3600}&nonce=n"
    assert post_message(client, text_message("楼道堆满杂物", 2), query=stale).status_code == 403
    assert stored(db) == []
    assert rasa.received == []


def test_an_old_but_correctly_signed_request_is_refused_as_a_replay(client, rasa):
    from bot.wechat.protocol import signature
    from tests.wechat.conftest import TOKEN

    old = str(int(time.time()) - 3600)
    query = f"signature={signature(TOKEN, old, 'n')}&timestamp={old}&nonce=n"
    assert post_message(client, text_message("楼道堆满杂物", 3), query=query).status_code == 403
    assert rasa.received == []


def test_the_endpoint_is_off_when_no_wechat_token_is_set(tmp_path, db, rasa, wechat):
    from fastapi.testclient import TestClient

    from tests.wechat.conftest import wechat_settings
    from web.app import create_app

    settings = wechat_settings(tmp_path, db, rasa, wechat, wechat_token=None)
    with TestClient(create_app(settings)) as other:
        assert other.get(f"/wechat?{signed_query(echostr='x')}").status_code == 404
        assert post_message(other, text_message("你好", 4)).status_code == 404
    assert wechat.calls == []


def test_a_text_reaches_rasa_as_the_wechat_sender_and_the_reply_comes_back_as_passive_xml(
        client, rasa):
    response = post_message(client, text_message("幸福小区3号楼楼道堆满杂物", 10))
    assert response.status_code == 200
    assert rasa.received[-1]["sender"] == f"wechat:{OPENID}"
    assert rasa.received[-1]["message"] == "幸福小区3号楼楼道堆满杂物"
    reply = passive(response)
    assert reply["ToUserName"] == OPENID and reply["FromUserName"] == ACCOUNT
    assert reply["MsgType"] == "text"
    assert reply["Content"].splitlines() == [
        "您反映的是：幸福小区3号楼楼道堆满杂物", "", "确认提交吗？", "回复数字选择：",
        "1. 确认提交", "2. 取消"]


def test_a_resident_answers_an_offered_option_with_its_number(client, rasa):
    post_message(client, text_message("楼道堆满杂物", 20))
    reply = passive(post_message(client, text_message("２", 21)))  # full-width, as typed
    assert rasa.received[-1]["message"] == "/deny"
    assert reply["Content"] == "好的，已取消。"
    post_message(client, text_message("1", 22))
    assert rasa.received[-1]["message"] == "1"  # that reply offered nothing: plain text


def test_a_resident_may_also_type_an_offered_options_title(client, rasa):
    post_message(client, text_message("楼道堆满杂物", 23))
    post_message(client, text_message("取消", 24))
    assert rasa.received[-1]["message"] == "/deny"


def test_another_residents_number_is_not_an_answer_to_options_offered_to_someone_else(
        client, rasa):
    post_message(client, text_message("楼道堆满杂物", 30))
    post_message(client, text_message("1", 31, openid="oSomeoneElse"))
    assert rasa.received[-1] == {**rasa.received[-1], "sender": "wechat:oSomeoneElse",
                                 "message": "1"}


def test_a_duplicate_msgid_is_processed_once(client, rasa, db):
    first = post_message(client, text_message("路灯坏了", 40))
    again = post_message(client, text_message("路灯坏了", 40))
    assert first.status_code == again.status_code == 200
    assert again.text == "success"
    assert rasa.messages_from(f"wechat:{OPENID}") == ["路灯坏了"]
    assert stored(db) == [("40", f"wechat:{OPENID}", True)]


def test_a_typed_slash_text_is_neutralised(client, rasa):
    post_message(client, text_message('/affirm{"case_no": "MS-1"}', 50))
    assert rasa.received[-1]["message"] == '／affirm{"case_no": "MS-1"}'


def test_a_shared_location_becomes_share_location(client, rasa):
    body = message_xml(OPENID, "location", {"Location_X": "38.0412", "Location_Y": "114.5143",
                                             "Scale": "15", "Label": "幸福小区"}, msg_id=60)
    assert post_message(client, body).status_code == 200
    message = rasa.received[-1]["message"]
    assert message.startswith("/share_location{")
    assert json.loads(message[len("/share_location"):]) == {"lat": 38.0412, "lon": 114.5143}


def test_a_photo_is_downloaded_checked_stored_and_sent_as_send_photo(client, rasa, wechat,
                                                                    settings):
    wechat.media["media-photo-1"] = png_bytes()
    body = message_xml(OPENID, "image", {"PicUrl": "http://example.invalid/p.jpg",
                                          "MediaId": "media-photo-1"}, msg_id=70)
    assert post_message(client, body).status_code == 200
    message = rasa.received[-1]["message"]
    assert message.startswith("/send_photo{")
    path = Path(json.loads(message[len("/send_photo"):])["photo"])
    assert settings.photos_dir.resolve() in path.resolve().parents
    assert path.read_bytes() == png_bytes()
    download = wechat.calls_to("/cgi-bin/media/get")[-1]
    assert download.params["media_id"] == "media-photo-1"
    assert download.token == "ACCESS-TOKEN-1"


def test_a_download_that_is_not_an_image_is_refused_and_rasa_is_not_told(client, rasa, wechat,
                                                                         settings):
    wechat.media["media-not-a-photo"] = b"%PDF-1.4 not an image"
    body = message_xml(OPENID, "image", {"MediaId": "media-not-a-photo"}, msg_id=71)
    reply = passive(post_message(client, body))
    assert "照片没有收到完整" in reply["Content"]
    assert rasa.received == []
    assert not settings.photos_dir.exists() or not any(settings.photos_dir.rglob("*.*"))


def test_a_menu_click_and_a_subscription_become_forced_intents(client, rasa):
    click = message_xml(OPENID, "event", {"Event": "CLICK", "EventKey": "MY_CASES"})
    post_message(client, click)
    follow = message_xml("oNewFollower", "event", {"Event": "subscribe", "EventKey": ""})
    post_message(client, follow)
    assert [m["message"] for m in rasa.received] == ["/check_status", "/greet"]


def test_voice_messages_are_answered_with_what_the_channel_accepts(client, rasa):
    body = message_xml(OPENID, "voice", {"MediaId": "v1", "Format": "amr"}, msg_id=80)
    assert "暂时只能接收文字、照片和位置" in passive(post_message(client, body))["Content"]
    assert rasa.received == []


def test_unreadable_xml_is_refused_with_400(client, db):
    response = post_message(client, b"<xml><ToUserName>gh</ToUserName>")
    assert response.status_code == 400
    assert stored(db) == []


class SlowRasa(FakeRasa):
    """Answers after ``delay`` seconds: slower than WeChat's passive-reply limit."""

    delay: float = 1.0

    def reply(self, body: dict) -> list[dict]:
        time.sleep(self.delay)
        return super().reply(body)


def test_a_turn_slower_than_the_passive_limit_answers_success_and_the_reply_follows_by_api(
        tmp_path, db, wechat):
    from fastapi.testclient import TestClient

    from tests.wechat.conftest import wechat_settings
    from web.app import create_app

    slow = SlowRasa().start()
    try:
        app = create_app(wechat_settings(tmp_path, db, slow, wechat))
        with TestClient(app) as client:
            app.state.wechat.passive_deadline = 0.2
            response = post_message(client, text_message("垃圾没人清运", 90))
            assert response.status_code == 200 and response.text == "success"
            sends = wait_for(lambda: wechat.custom_sends)
        assert sends[0].body["touser"] == OPENID
        assert sends[0].body["msgtype"] == "text"
        assert "您反映的是：垃圾没人清运" in sends[0].body["text"]["content"]
        assert "1. 确认提交" in sends[0].body["text"]["content"]
        assert slow.messages_from(f"wechat:{OPENID}") == ["垃圾没人清运"]
    finally:
        slow.stop()


def test_the_rasa_sender_id_of_wechat_names_the_wechat_channel():
    from actions.common import split_sender

    assert split_sender(f"wechat:{OPENID}") == (Channel.wechat, OPENID)


def test_every_wechat_message_is_stored_with_its_sender(client, db):
    post_message(client, text_message("你好", 95))
    with db.uow() as uow:
        count = uow.session.execute(select(func.count()).select_from(InboundMessage).where(
            InboundMessage.sender == f"wechat:{OPENID}")).scalar()
    assert count == 1


class FlakyRasa(FakeRasa):
    """Drops the connection while ``down``, as a Rasa server that is restarting."""

    down: bool = True

    def reply(self, body: dict) -> list[dict]:
        if self.down:
            raise ConnectionAbortedError("Rasa is restarting")
        return super().reply(body)


def test_a_message_rasa_could_not_take_is_kept_and_answered_by_api_when_rasa_is_back(
        tmp_path, db, wechat):
    from fastapi.testclient import TestClient

    from tests.wechat.conftest import wechat_settings
    from web.app import create_app

    flaky = FlakyRasa().start()
    try:
        app = create_app(wechat_settings(tmp_path, db, flaky, wechat))
        with TestClient(app) as client:
            reply = passive(post_message(client, text_message("小区路灯不亮", 96)))
            assert "我们已记下您的消息" in reply["Content"]
            assert stored(db) == [("96", f"wechat:{OPENID}", False)]
            flaky.down = False
            sends = wait_for(lambda: wechat.custom_sends)
        assert "您反映的是：小区路灯不亮" in sends[0].body["text"]["content"]
        assert stored(db) == [("96", f"wechat:{OPENID}", True)]
        assert flaky.messages_from(f"wechat:{OPENID}") == ["小区路灯不亮"]
    finally:
        flaky.stop()


def test_an_unfollow_stops_notices_until_the_resident_writes_again(client, db):
    from minsheng.services import notify
    from tests.wechat.conftest import wechat_resident

    resident = wechat_resident(db, OPENID)

    def channel_now():
        with db.uow() as uow:
            return notify.online_channel(uow, resident)

    assert channel_now() == Channel.wechat
    post_message(client, message_xml(OPENID, "event", {"Event": "unsubscribe"}))
    assert channel_now() is None
    post_message(client, message_xml(OPENID, "event", {"Event": "subscribe"}, create_time=1))
    assert channel_now() == Channel.wechat


def test_a_text_of_only_invisible_characters_is_answered_without_asking_rasa(client, rasa):
    reply = passive(post_message(client, text_message("\u200b\u202e \u200d", 97)))
    assert reply["Content"] == "没有收到文字内容。请用文字描述您遇到的问题，或发送照片、位置。"
    assert rasa.received == []


def test_an_empty_answer_is_kept_told_once_retried_a_bounded_number_of_times_then_given_up(
        client, db, rasa, wechat):
    """Rasa answers [] while the action server is down: "不用重发" once, the message sent
    again by the retry loop, and "请稍后再发一次" only after EMPTY_ATTEMPTS turns."""
    from bot.core.inbound import EMPTY_ATTEMPTS
    from bot.wechat import render

    client.app.state.wechat.empty_backoff = 0.0
    rasa.silent = True
    reply = passive(post_message(client, text_message("小区路灯不亮", 97)))
    assert reply["Content"] == render.BUSY
    sends = wait_for(lambda: wechat.custom_sends, timeout=20)
    assert [s.body["text"]["content"] for s in sends] == [render.NO_REPLY]
    assert rasa.messages_from(f"wechat:{OPENID}") == ["小区路灯不亮"] * EMPTY_ATTEMPTS
    assert stored(db) == [("97", f"wechat:{OPENID}", True)]
    time.sleep(2.5)  # one more round of the retry loop: never sent again
    assert len(rasa.messages_from(f"wechat:{OPENID}")) == EMPTY_ATTEMPTS


def test_an_empty_answered_message_waits_out_its_back_off_before_it_is_sent_again(
        client, db, rasa):
    from minsheng.clock import utcnow

    rasa.silent = True
    post_message(client, text_message("小区路灯不亮", 98))
    inbox = client.app.state.wechat.inbox
    assert inbox.attempts("98") == 1
    assert inbox.unprocessed(utcnow(), 20) == []  # backing off
    with db.uow() as uow:
        uow.session.execute(update(InboundMessage).values(claimed_until=utcnow()))
        uow.commit()
    assert [stored.key for stored in inbox.unprocessed(utcnow(), 20)] == ["98"]
