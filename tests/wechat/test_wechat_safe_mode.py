"""Safe mode (安全模式): encrypted POSTs verified by msg_signature and decrypted, passive
replies encrypted — through the real web app, with the cipher of tests/wechat/aes.py."""
from __future__ import annotations

import time
from urllib.parse import urlencode
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from bot.wechat.protocol import signature
from minsheng.enums import Channel
from minsheng.models import InboundMessage
from minsheng.settings import load_settings
from tests.wechat import aes
from tests.wechat.conftest import ACCOUNT, TOKEN, message_xml, post_message, wechat_settings

AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"  # 43 characters, as WeChat shows it
OTHER_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OPENID = "oResident-Safe-01"


@pytest.fixture
def safe_client(tmp_path, db, rasa, wechat):
    from web.app import create_app

    app = create_app(wechat_settings(tmp_path, db, rasa, wechat,
                                     wechat_encoding_aes_key=AES_KEY))
    with TestClient(app) as client:
        yield client
    app.state.db.dispose()


def sealed_post(client, plain: bytes, key: str = AES_KEY, app_id: str | None = None,
                forge: bool = False):
    """POST ``plain`` as WeChat does in safe mode: encrypted, both signatures in the query."""
    from tests.wechat.fake_wechat import APP_ID

    timestamp, nonce = str(int(time.time())), "safeNonce7"
    ciphertext = aes.encrypt(key, app_id or APP_ID, plain)
    body = (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<Encrypt><![CDATA[{ciphertext}]]></Encrypt></xml>").encode()
    msg_signature = aes.msg_signature(TOKEN, timestamp, nonce, ciphertext)
    if forge:
        msg_signature = aes.msg_signature(TOKEN, timestamp, nonce, ciphertext + "x")
    query = urlencode({"signature": signature(TOKEN, timestamp, nonce), "timestamp": timestamp,
                       "nonce": nonce, "openid": OPENID, "encrypt_type": "aes",
                       "msg_signature": msg_signature})
    return post_message(client, body, query=query)


def text(content: str, msg_id: int) -> bytes:
    return message_xml(OPENID, "text", {"Content": content}, msg_id=msg_id)


def stored(db) -> list[str]:
    with db.uow() as uow:
        return list(uow.session.execute(select(InboundMessage.external_id).where(
            InboundMessage.channel == Channel.wechat)).scalars())


def opened_reply(response) -> dict:
    """The encrypted passive reply, its signature checked, decrypted and read."""
    from tests.wechat.fake_wechat import APP_ID

    outer = {child.tag: child.text for child in ElementTree.fromstring(response.text)}
    assert set(outer) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    assert outer["MsgSignature"] == aes.msg_signature(TOKEN, outer["TimeStamp"],
                                                      outer["Nonce"], outer["Encrypt"])
    plain, app_id = aes.decrypt(AES_KEY, outer["Encrypt"])
    assert app_id == APP_ID
    return {child.tag: child.text for child in ElementTree.fromstring(plain)}


def test_an_encrypted_message_is_decrypted_answered_and_the_passive_reply_encrypted(
        safe_client, rasa):
    response = sealed_post(safe_client, text("幸福小区3号楼楼道堆满杂物", 601))
    assert response.status_code == 200
    assert rasa.received[-1]["sender"] == f"wechat:{OPENID}"
    assert rasa.received[-1]["message"] == "幸福小区3号楼楼道堆满杂物"
    reply = opened_reply(response)
    assert reply["ToUserName"] == OPENID and reply["FromUserName"] == ACCOUNT
    assert reply["Content"].startswith("您反映的是：幸福小区3号楼楼道堆满杂物")
    assert "1. 确认提交" in reply["Content"]
    assert "幸福小区" not in response.text  # nothing readable on the wire


def test_a_bad_msg_signature_gets_403_and_nothing_is_stored_or_processed(safe_client, db,
                                                                          rasa):
    response = sealed_post(safe_client, text("楼道堆满杂物", 602), forge=True)
    assert response.status_code == 403
    assert stored(db) == [] and rasa.received == []


def test_a_message_encrypted_with_another_key_is_refused(safe_client, db, rasa):
    response = sealed_post(safe_client, text("楼道堆满杂物", 603), key=OTHER_KEY)
    assert response.status_code == 403
    assert stored(db) == [] and rasa.received == []


def test_a_message_encrypted_for_another_app_id_is_refused(safe_client, db, rasa):
    response = sealed_post(safe_client, text("楼道堆满杂物", 604), app_id="wxSomeoneElse000")
    assert response.status_code == 403
    assert stored(db) == [] and rasa.received == []


def test_with_safe_mode_on_a_plaintext_post_is_refused(safe_client, db, rasa):
    assert post_message(safe_client, text("楼道堆满杂物", 605)).status_code == 403
    assert stored(db) == [] and rasa.received == []


def test_a_duplicate_encrypted_message_is_processed_once_and_answered_success(
        safe_client, rasa):
    sealed_post(safe_client, text("路灯坏了", 606))
    again = sealed_post(safe_client, text("路灯坏了", 606))
    assert again.status_code == 200 and again.text == "success"
    assert rasa.messages_from(f"wechat:{OPENID}") == ["路灯坏了"]


def test_the_server_url_check_works_in_safe_mode(safe_client):
    from tests.wechat.conftest import signed_query

    assert safe_client.get(f"/wechat?{signed_query(echostr='e-9')}").text == "e-9"


def test_without_a_key_an_encrypted_post_is_refused_and_plaintext_keeps_working(
        client, db, rasa):
    assert sealed_post(client, text("楼道堆满杂物", 607)).status_code == 403
    assert stored(db) == []
    assert post_message(client, text("楼道堆满杂物", 608)).status_code == 200
    assert rasa.messages_from(f"wechat:{OPENID}") == ["楼道堆满杂物"]


@pytest.mark.parametrize("key", ["short", AES_KEY + "A", AES_KEY[:-1] + "!"])
def test_an_aes_key_that_is_not_43_base64_characters_is_refused(key):
    with pytest.raises(ValidationError, match="EncodingAESKey"):
        load_settings(wechat_encoding_aes_key=key, _env_file=None)
