"""The contract every resident channel adapter keeps, checked against what it declares.

Each adapter brings a harness (how a resident types, answers an offered button, sends a
photo or a location, how a notice reaches them, what reached them so far, and how a
process dies after Rasa answered a message); the tests below run for every
harness in ``HARNESSES``: WeChat and the web chat in the web app, Telegram as the real
gateway (python-telegram-bot polling the fake Bot API server of tests/botapi, on an
event loop of its own). Every channel of the registry (web/channels.py) must have one.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Protocol
from xml.etree import ElementTree

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
    def texts(self) -> list[str]: ...  # every bot text that reached the resident so far
    def lose_answer(self, text: str) -> None: ...  # stored, Rasa answered, process died


class WeChatHarness:
    channel = Channel.wechat

    def __init__(self, client, rasa, wechat, db, openid: str = "oContract-0001") -> None:
        self.client, self.rasa, self.wechat, self.db, self.openid = client, rasa, wechat, db, openid
        self.capabilities = client.app.state.wechat.capabilities
        client.app.state.wechat.empty_backoff = 0.0  # the retry loop runs every 2 s
        self._ids = itertools.count(1000)
        self._passive: list[str] = []

    def _post(self, msg_type: str, fields: dict) -> None:
        body = message_xml(self.openid, msg_type, fields, msg_id=next(self._ids))
        response = post_message(self.client, body)
        assert response.status_code == 200
        if response.text.startswith("<xml>"):
            self._passive.append(ElementTree.fromstring(response.text).findtext("Content"))

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

    def texts(self) -> list[str]:
        return self._passive + [c.body["text"]["content"] for c in self.wechat.custom_sends
                                if c.body["touser"] == self.openid]

    def lose_answer(self, text: str) -> None:
        from sqlalchemy import update

        from bot.core.replay import TURN_KEY
        from bot.wechat.protocol import parse
        from minsheng.clock import utcnow
        from minsheng.models import InboundMessage

        inbound = parse(message_xml(self.openid, "text", {"Content": text},
                                    msg_id=next(self._ids)))
        assert self.client.app.state.wechat.inbox.receive(inbound)
        with self.db.uow() as uow:  # the process that took it died: its lease ran out
            uow.session.execute(update(InboundMessage).where(
                InboundMessage.external_id == inbound.external_id).values(
                claimed_until=utcnow() - timedelta(seconds=1)))
            uow.commit()
        self.rasa.reply({"sender": f"wechat:{self.openid}", "message": text,
                         "metadata": {TURN_KEY: inbound.external_id}})


class WebChatHarness:
    """The web chat, through its HTTP endpoints, in the same app."""

    channel = Channel.web

    def __init__(self, client, rasa, wechat, db) -> None:
        self.client, self.rasa, self.db = client, rasa, db
        self.capabilities = client.app.state.webchat.capabilities
        client.app.state.webchat.retry_every = 0.0  # a poll retries what is kept at once
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

    def texts(self) -> list[str]:
        """The page asking for news (which also retries a kept message)."""
        messages = self.client.get("/chat/messages", params={"after": 0}).json()["messages"]
        return [m["text"] for m in messages]

    def lose_answer(self, text: str) -> None:
        from sqlalchemy import update

        from bot.core.inbound import Incoming
        from bot.core.replay import TURN_KEY
        from minsheng.clock import utcnow
        from minsheng.models import InboundMessage

        sender = self.rasa.received[-1]["sender"]  # the resident has written before
        key = f"lost-{len(self.rasa.received)}"
        self.client.app.state.webchat.inbox.add(
            Incoming(key, sender, {"rasa": text, "text": text}), claim=True)
        with self.db.uow() as uow:  # the process that took it died: its lease ran out
            uow.session.execute(update(InboundMessage).where(
                InboundMessage.external_id == key).values(
                claimed_until=utcnow() - timedelta(seconds=1)))
            uow.commit()
        self.rasa.reply({"sender": sender, "message": text, "metadata": {TURN_KEY: key}})


class TelegramHarness:
    """The real gateway (bot.app.build_application) polling the fake Bot API server; it
    runs on its own event loop in a thread, the harness waits for what Rasa receives."""

    channel = Channel.telegram
    user = 730000001

    def __init__(self, client, rasa, wechat, db) -> None:
        from bot.channel import TelegramChannel

        self.rasa, self.db = rasa, db
        self.capabilities = TelegramChannel.capabilities
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._photos = client.app.state.settings.photos_dir
        self.bot_api = self._run(self._start_server())
        self.app = self._run(self._start_gateway())

    def _run(self, coroutine, timeout: float = 20.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def _start_server(self):
        from tests.botapi.server import BotApiServer

        return await BotApiServer().start()

    async def _start_gateway(self):
        from bot.app import build_application
        from bot.gateway import GatewayOptions
        from minsheng.settings import load_settings
        from tests.bot.conftest import FAST
        from tests.botapi.server import TOKEN

        settings = load_settings(
            database_url=self.db.url, rasa_url=self.rasa.url, rasa_token=self.rasa.token,
            telegram_bot_token=TOKEN, telegram_base_url=self.bot_api.base_url,
            photos_dir=self._photos, _env_file=None)
        application = build_application(settings, self.db, GatewayOptions(**vars(FAST)))
        await application.initialize()
        await application.start()
        await application.updater.start_polling(poll_interval=0.0, timeout=1)
        return application

    def close(self) -> None:
        async def stop() -> None:
            await self.app.updater.stop()
            await self.app.stop()
            await self.app.shutdown()
            await self.bot_api.stop()

        self._run(stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _push(self, update: dict) -> None:
        """Send ``update`` and wait until Rasa has received the turn it makes."""
        before = len(self.rasa.received)
        self._run(self.bot_api.push(update))
        wait_for(lambda: len(self.rasa.received) > before)

    def say(self, text: str) -> None:
        from tests.botapi import updates

        self._push(updates.message_update(self.user, text))

    def answer_option(self, number: int) -> None:
        from tests.botapi import updates

        offered = wait_for(lambda: [c for c in self.bot_api.sent_to(self.user) if c.buttons])
        last = offered[-1]
        data = last.buttons[number - 1]["callback_data"]
        self._push(updates.callback_update(self.user, data, updates.sent_message(last.result)))

    def send_photo(self, content: bytes) -> None:
        from tests.botapi import updates

        self.bot_api.add_file("contract-photo", content)
        self._push(updates.photo_update(self.user, "contract-photo", len(content)))

    def send_location(self, lat: float, lon: float) -> None:
        from tests.botapi import updates

        self._push(updates.location_update(self.user, lat, lon))

    def push(self, text: str) -> str:
        from minsheng.models import Resident, ResidentIdentity
        from minsheng.services import outbox

        with self.db.uow() as uow:
            resident = Resident()
            uow.session.add(resident)
            uow.session.flush()
            uow.session.add(ResidentIdentity(resident_id=resident.id, channel=Channel.telegram,
                                             external_id=str(self.user)))
            outbox.enqueue(uow, Channel.telegram, f"resident:{resident.id}", "progress", text)
            uow.commit()
        [sent] = wait_for(lambda: self.bot_api.sent_to(self.user))
        return sent.text

    def texts(self) -> list[str]:
        return [c.text for c in self.bot_api.sent_to(self.user)]

    def lose_answer(self, text: str) -> None:
        from bot.core.replay import TURN_KEY
        from tests.botapi import updates

        update = updates.message_update(self.user, text)
        update["update_id"] = self.bot_api.next_update_id()
        inbound = self.app.bot_data["gateway"].inbound
        [stored] = inbound.save_all([update])
        assert inbound.claim(stored.key, lease=0.3)  # the dead gateway's claim runs out
        self.rasa.reply({"sender": f"telegram:{self.user}", "message": text,
                         "metadata": {TURN_KEY: stored.key}})


HARNESSES = {"wechat": WeChatHarness, "webchat": WebChatHarness, "telegram": TelegramHarness}


@pytest.fixture(params=sorted(HARNESSES))
def adapter(request, client, rasa, wechat, db):
    harness = HARNESSES[request.param](client, rasa, wechat, db)
    yield harness
    if hasattr(harness, "close"):
        harness.close()


def test_every_registered_channel_has_a_harness_and_a_host():
    from minsheng.processes import programs
    from web.channels import REGISTRY

    assert {r.channel for r in REGISTRY} == {h.channel for h in HARNESSES.values()}
    processes = {p.name for p in programs(Path("bin"), "t", None, gateway=True)}
    for registration in REGISTRY:
        assert (registration.install is None) != (registration.process is None)
        assert registration.process in processes | {None}


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


# -- a turn is never lost and never taken twice (bot.core.replay) ---------------------------
REPORT = "幸福小区路灯坏了"


def test_a_turn_rasa_answered_before_the_process_died_is_answered_from_rasas_tracker(adapter):
    adapter.say("你好")
    sender = adapter.rasa.received[-1]["sender"]
    adapter.lose_answer(REPORT)
    wait_for(lambda: any(f"您反映的是：{REPORT}" in t for t in adapter.texts()), timeout=20)
    assert adapter.rasa.messages_from(sender).count(REPORT) == 1


def test_an_empty_answered_confirmation_is_sent_again_with_the_form_back_and_opens_one_case(
        adapter):
    opened: list[str] = []

    def open_case(sender: str, text: str, photos: list[str]) -> str:
        opened.append(text)
        return f"MS-TEST-{len(opened)}"

    adapter.rasa.on_confirm = open_case
    adapter.say(REPORT)
    sender = adapter.rasa.received[-1]["sender"]
    adapter.rasa.actions_down = True  # the form is submitted, the case-opening action fails
    adapter.answer_option(1)
    assert adapter.rasa.received[-1]["message"] == "/affirm" and opened == []
    adapter.rasa.actions_down = False
    wait_for(lambda: any("已受理，工单号 MS-TEST-1" in t for t in adapter.texts()), timeout=20)
    assert opened == [REPORT]
    assert adapter.rasa.messages_from(sender).count("/affirm") == 2
