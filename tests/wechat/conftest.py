"""The WeChat channel under test: the real web app on a SQLite file built by the
migrations, the fake Rasa of tests/web and a fake WeChat API of our own."""
from __future__ import annotations

import io
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from bot.wechat.protocol import signature
from minsheng.db import Database
from minsheng.settings import load_settings
from tests.web.conftest import rasa  # noqa: F401  (the fake Rasa fixture)
from tests.web.fake_rasa import FakeRasa
from tests.wechat.fake_wechat import FakeWeChat

TOKEN = "wechatTestToken2026"
ACCOUNT = "gh_minsheng_test"
TEMPLATE_ID = "tmpl-case-progress-0001"


@pytest.fixture
def wechat():
    fake = FakeWeChat().start()
    yield fake
    fake.stop()


def wechat_settings(tmp_path: Path, db: Database, fake_rasa: FakeRasa, wechat: FakeWeChat,
                    **overrides):
    values = {"database_url": db.url, "rasa_url": fake_rasa.url, "rasa_token": fake_rasa.token,
              "photos_dir": tmp_path / "photos", "models_dir": tmp_path / "models",
              "web_secret_key": "web-test-secret-key-0123456789", "wechat_token": TOKEN,
              "wechat_app_id": wechat.app_id, "wechat_app_secret": wechat.app_secret,
              "wechat_api_base": wechat.url, "_env_file": None}
    return load_settings(**{**values, **overrides})


@pytest.fixture
def settings(tmp_path: Path, db: Database, rasa: FakeRasa, wechat: FakeWeChat):  # noqa: F811
    return wechat_settings(tmp_path, db, rasa, wechat)


@pytest.fixture
def app(settings):
    from web.app import create_app

    application = create_app(settings)
    yield application
    application.state.db.dispose()


@pytest.fixture
def client(app):
    with TestClient(app) as test_client:
        yield test_client


def signed_query(token: str = TOKEN, **extra: str) -> str:
    timestamp, nonce = str(int(time.time())), "n0nce42"
    params = {"signature": signature(token, timestamp, nonce), "timestamp": timestamp,
              "nonce": nonce, **extra}
    return urlencode(params)


def message_xml(openid: str, msg_type: str, fields: dict, msg_id: int | None = None,
                create_time: int | None = None) -> bytes:
    """A message as WeChat's servers POST it (plaintext mode)."""
    parts = [f"<ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>",
             f"<FromUserName><![CDATA[{openid}]]></FromUserName>",
             f"<CreateTime>{create_time or int(time.time())}</CreateTime>",
             f"<MsgType><![CDATA[{msg_type}]]></MsgType>"]
    parts += [f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()]
    if msg_id is not None:
        parts.append(f"<MsgId>{msg_id}</MsgId>")
    return ("<xml>" + "".join(parts) + "</xml>").encode()


def post_message(client: TestClient, body: bytes, query: str | None = None):
    return client.post(f"/wechat?{query or signed_query()}", content=body,
                       headers={"content-type": "text/xml"})


def png_bytes(size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def wait_for(condition, timeout: float = 10.0, interval: float = 0.05):
    """Poll ``condition`` until it is truthy; its value, or AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def wechat_resident(db, openid: str = "oResident-Notices-01") -> int:
    """A resident known by a WeChat openid (as the actions create one); their id."""
    from minsheng.enums import Channel
    from minsheng.models import Resident, ResidentIdentity

    with db.uow() as uow:
        resident = Resident()
        uow.session.add(resident)
        uow.session.flush()
        uow.session.add(ResidentIdentity(resident_id=resident.id, channel=Channel.wechat,
                                         external_id=openid))
        uow.commit()
        return resident.id
