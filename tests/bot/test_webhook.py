"""Webhook mode: only calls carrying the secret token are accepted."""
from __future__ import annotations

import httpx
import pytest

# The gateway imports the case services (minsheng/services), merged separately.
from bot.app import build_application
from bot.webhook import SECRET_HEADER, webhook_app
from tests.botapi import updates

SECRET = "a-long-webhook-secret-0123456789"
RESIDENT = 421000050


@pytest.fixture
async def webhook(settings, db, options):
    application = build_application(settings, db, options)
    await application.initialize()
    await application.start()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=webhook_app(application, SECRET, "/telegram")),
        base_url="http://gateway")
    yield client
    await client.aclose()
    await application.stop()
    await application.shutdown()


async def test_a_call_without_the_secret_token_is_refused_and_not_processed(
        webhook, bot_api, rasa):
    update = {"update_id": 1, **updates.message_update(RESIDENT, "你好")}
    wrong = await webhook.post("/telegram", json=update, headers={SECRET_HEADER: "guess"})
    missing = await webhook.post("/telegram", json=update)
    assert (wrong.status_code, missing.status_code) == (403, 403)
    genuine = {"update_id": 3, **updates.message_update(RESIDENT, "真的消息")}
    await webhook.post("/telegram", json=genuine, headers={SECRET_HEADER: SECRET})
    await bot_api.wait_for_messages(RESIDENT)
    assert rasa.texts_from(f"telegram:{RESIDENT}") == ["真的消息"]


async def test_a_call_with_the_secret_token_is_answered(webhook, bot_api, rasa):
    update = {"update_id": 2, **updates.message_update(RESIDENT, "路灯不亮")}
    response = await webhook.post("/telegram", json=update, headers={SECRET_HEADER: SECRET})
    assert response.status_code == 200
    [reply] = await bot_api.wait_for_messages(RESIDENT)
    assert reply.text == "收到：路灯不亮"
