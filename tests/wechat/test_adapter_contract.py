"""The contract every resident channel adapter keeps, checked against what it declares.

Each adapter brings a harness (how a resident types, answers an offered button, sends a
photo or a location, and how a notice reaches them); the tests below run for every
harness in ``HARNESSES``: WeChat and the web chat (Telegram's harness, on the async
gateway fixtures, is still to come).
"""
from __future__ import annotations

import itertools
import json
from typing import Protocol

import pytest

from actions.common import split_sender
from bot.core.contract import Capabilities
from minsheng.enums import Channel
from tests.web.fake_rasa import FakeRasa
from tests.wechat.conftest import (
    message_xml,
    png_bytes,
    post_message,
    wait_for,
    wechat_resident,
)


class Harness(Protocol):
    channel: Channel
    capabilities: Capabilities
    rasa: FakeRasa

    def say(self, text: str) -> None: ...
    def answer_option(self, number: int) -> None: ...
    def send_photo(self, content: bytes) -> None: ...
    def send_location(self, lat: float, lon: float) -> None: ...
    def push(self, text: str) -> str: ...  # what reached the resident


class WeChatHarness:
    channel = Channel.wechat

    def __init__(self, client, rasa, wechat, db, openid: str = "oContract-0001") -> None:
        self.client, self.rasa, self.wechat, self.db, self.openid = client, rasa, wechat, db, openid
        self.capabilities = client.app.state.wechat.capabilities
        self._ids = itertools.count(1000)

    def _post(self, msg_type: str, fields: dict) -> None:
        body = message_xml(self.openid, msg_type, fields, msg_id=next(self._ids))
        assert post_message(self.client, body).status_code == 200

    def say(self, text: str) -> None:
        self._post("text", {"Content": text})

    def answer_option(self, number: int) -> None:
        self._post("text", {"Content": str(number)})

    def send_photo(self, content: bytes) -> None:
        self.wechat.media["contract-media"] = content
        self._post("image", {"MediaId": "contract-media"})

    def send_location(self, lat: float, lon: float) -> None:
        self._post("location", {"Location_X": str(lat), "Location_Y": str(lon)})

    def push(self, text: str) -> str:
        from minsheng.services import outbox

        resident = wechat_resident(self.db, self.openid)
        with self.db.uow() as uow:
            outbox.enqueue(uow, Channel.wechat, f"resident:{resident}", "progress", text)
            uow.commit()
        sends = wait_for(lambda: [c for c in self.wechat.custom_sends
                                  if c.body["touser"] == self.openid])
        return sends[-1].body["text"]["content"]


class WebChatHarness:
    """The web chat, through its HTTP endpoints, in the same app."""

    channel = Channel.web

    def __init__(self, client, rasa, wechat, db) -> None:
        self.client, self.rasa, self.db = client, rasa, db
        self.capabilities = client.app.state.webchat.capabilities
        client.get("/chat")
        self._headers = {"X-CSRFToken": client.cookies["csrftoken"]}
        self._last: list[dict] = []

    def _post(self, path: str, **kwargs) -> None:
        response = self.client.post(path, headers=self._headers, **kwargs)
        assert response.status_code == 200, response.text
        self._last = response.json()["messages"]

    def say(self, text: str) -> None:
        self._post("/chat/send", json={"text": text})

    def answer_option(self, number: int) -> None:
        offered = [b for m in self._last for b in m["buttons"]]
        self._post("/chat/send", json={"payload": offered[number - 1]["payload"]})

    def send_photo(self, content: bytes) -> None:
        self._post("/chat/photo", files={"photo": ("p.png", content, "image/png")})

    def send_location(self, lat: float, lon: float) -> None:
        self._post("/chat/location", json={"lat": lat, "lon": lon})

    def push(self, text: str) -> str:
        from minsheng.services import outbox

        self.say("你好")  # the resident exists once they have written
        external = split_sender(self.rasa.received[-1]["sender"])[1]
        resident = self.client.app.state.webchat.store.resident_id(external)
        with self.db.uow() as uow:
            outbox.enqueue(uow, Channel.web, f"resident:{resident}", "progress", text)
            uow.commit()
        messages = self.client.get("/chat/messages", params={"after": 0}).json()["messages"]
        return messages[-1]["text"]


HARNESSES = {"wechat": WeChatHarness, "webchat": WebChatHarness}


@pytest.fixture(params=sorted(HARNESSES))
def adapter(request, client, rasa, wechat, db) -> Harness:
    return HARNESSES[request.param](client, rasa, wechat, db)


def test_an_adapter_declares_its_channel_and_capabilities(adapter):
    assert isinstance(adapter.capabilities, Capabilities)
    assert adapter.capabilities.buttons in {"inline", "numbered", "none"}
    assert adapter.channel in Channel


def test_typed_text_reaches_rasa_under_a_sender_id_the_actions_read_as_this_channel(adapter):
    adapter.say("幸福小区路灯坏了")
    sent = adapter.rasa.received[-1]
    assert sent["message"] == "幸福小区路灯坏了"
    assert split_sender(sent["sender"])[0] == adapter.channel


def test_typed_slash_text_never_becomes_a_forced_intent(adapter):
    adapter.say("/restart")
    assert not adapter.rasa.received[-1]["message"].startswith("/")


def test_offered_buttons_can_be_answered_and_reach_rasa_as_their_payload(adapter):
    if adapter.capabilities.buttons == "none":
        pytest.skip("this channel declares no buttons")
    adapter.say("楼道堆满杂物")  # the fake Rasa offers 确认提交 (/affirm) and 取消 (/deny)
    adapter.answer_option(2)
    assert adapter.rasa.received[-1]["message"] == "/deny"


def test_a_declared_photo_capability_delivers_photos_as_send_photo(adapter):
    if not adapter.capabilities.photos:
        pytest.skip("this channel declares no photos")
    adapter.send_photo(png_bytes())
    message = adapter.rasa.received[-1]["message"]
    assert message.startswith("/send_photo{") and json.loads(message[len("/send_photo"):])


def test_a_declared_location_capability_delivers_share_location(adapter):
    if not adapter.capabilities.location:
        pytest.skip("this channel declares no location")
    adapter.send_location(38.04, 114.51)
    message = adapter.rasa.received[-1]["message"]
    assert json.loads(message[len("/share_location"):]) == {"lat": 38.04, "lon": 114.51}


def test_a_declared_push_capability_delivers_an_outbox_notice(adapter):
    if not adapter.capabilities.push:
        pytest.skip("this channel declares no push")
    assert adapter.push("您的工单已签收。") == "您的工单已签收。"
