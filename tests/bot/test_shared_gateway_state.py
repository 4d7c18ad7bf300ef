"""Two Telegram gateways sharing state through the real Redis (MINSHENG_SHARED_STATE_URL):
a button one offered is pressed on the other, and one chat's turns never run on both."""
from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import delete

from bot.buttons import OfferedButtons
from bot.gateway import Gateway
from minsheng.enums import Channel
from minsheng.models import OutboxMessage
from tests.botapi import updates
from tests.botapi.fake_rasa import FakeRasa
from tests.botapi.server import BotApiServer

pytestmark = pytest.mark.redis

CLUTTER = '/choose_category{"category": "clutter"}'


@pytest.fixture
def settings(settings, redis_addr):
    return settings.copy(update={
        "shared_state_url": f"redis://{redis_addr[0]}:{redis_addr[1]}/7"})


def fresh_chat() -> int:
    """A chat no earlier run offered buttons to on the shared server."""
    return 500_000_000 + uuid.uuid4().int % 10**8


async def _offer_then_press_elsewhere(gateway, bot_api: BotApiServer, db,
                                      other: OfferedButtons, chat: int) -> str:
    """Buttons offered by this gateway, pressed on a gateway that has ``other`` and no kept
    reply to fall back on; the text the resident gets after the press."""
    await bot_api.push(updates.message_update(chat, "请选择类别"))
    [offer] = await bot_api.wait_for_messages(chat)
    gateway.bot_data["gateway"].buttons = other
    with db.uow() as uow:  # the outbox fallback (bot.delivery.offered_buttons) finds nothing
        uow.session.execute(delete(OutboxMessage).where(
            OutboxMessage.channel == Channel.telegram, OutboxMessage.recipient == str(chat)))
        uow.commit()
    await bot_api.push(updates.callback_update(chat, offer.buttons[1]["callback_data"],
                                               updates.sent_message(offer.result)))
    sent = await bot_api.wait_for_messages(chat, count=2)
    return sent[1].text


async def test_a_button_offered_by_one_gateway_is_accepted_by_another(
        gateway, bot_api: BotApiServer, rasa: FakeRasa, db, settings):
    chat = fresh_chat()
    answer = await _offer_then_press_elsewhere(gateway, bot_api, db,
                                               OfferedButtons(settings.shared_state_url), chat)
    assert "失效" not in answer
    assert rasa.texts_from(f"telegram:{chat}")[-1] == CLUTTER


async def test_a_gateway_keeping_buttons_in_memory_refuses_the_same_press(
        gateway, bot_api: BotApiServer, rasa: FakeRasa, db):
    """The control: without the shared store the other gateway cannot know the button."""
    chat = fresh_chat()
    answer = await _offer_then_press_elsewhere(gateway, bot_api, db, OfferedButtons(), chat)
    assert "失效" in answer
    assert CLUTTER not in rasa.texts_from(f"telegram:{chat}")


async def test_one_chat_runs_one_turn_at_a_time_across_two_gateways(settings, db, options):
    first, second = Gateway(settings, db, options), Gateway(settings, db, options)
    chat = fresh_chat()
    try:
        async with first.chat_lock(chat):
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(second.chat_lock(chat).__aenter__(), timeout=0.5)
            async with second.chat_lock(chat + 1):
                pass  # another chat is not held up
        async with second.chat_lock(chat):
            pass
    finally:
        await first.close()
        await second.close()
