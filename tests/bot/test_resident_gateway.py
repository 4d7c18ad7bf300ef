"""Residents through the real gateway: Bot API server ⇄ PTB ⇄ fake Rasa, real SQLite."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import func, select
from telegram import Update

from minsheng.models import InboundMessage
from tests.botapi import updates
from tests.botapi.fake_rasa import FakeRasa
from tests.botapi.server import BotApiServer
from tests.factories import jpeg_bytes, png_bomb

# The gateway imports the case services (minsheng/services), merged separately.

RESIDENT = 421000001


async def wait_until(condition, timeout: float = 5.0, step: float = 0.02):
    """Poll ``condition()`` until truthy (no fixed sleeps)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = condition()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


def inbound_rows(db) -> list[SimpleNamespace]:
    """Snapshots of the stored updates, oldest first."""
    with db.uow() as uow:
        rows = uow.session.execute(
            select(InboundMessage).order_by(InboundMessage.id)).scalars().all()
        return [SimpleNamespace(payload=r.payload, processed_at=r.processed_at,
                                attempts=r.attempts, last_error=r.last_error) for r in rows]


async def test_a_text_goes_to_rasa_with_telegram_metadata_and_the_answer_comes_back(
        gateway, bot_api: BotApiServer, rasa: FakeRasa, db):
    await bot_api.push(updates.message_update(RESIDENT, "3号楼楼道堆满杂物"))
    [reply] = await bot_api.wait_for_messages(RESIDENT)
    assert reply.text == "收到：3号楼楼道堆满杂物"
    [sent] = rasa.received
    assert sent["sender"] == f"telegram:{RESIDENT}"
    assert sent["metadata"]["channel"] == "telegram"
    assert sent["metadata"]["telegram_user_id"] == RESIDENT
    assert sent["metadata"]["chat_id"] == RESIDENT
    [row] = await wait_until(lambda: [r for r in inbound_rows(db) if r.processed_at])
    assert row.payload["message"]["text"] == "3号楼楼道堆满杂物"


async def test_the_same_update_delivered_twice_is_answered_once(
        gateway, bot_api: BotApiServer, rasa: FakeRasa, db):
    update = updates.message_update(RESIDENT, "路灯坏了")
    update["update_id"] = bot_api.next_update_id()
    await bot_api.push(update)
    await bot_api.wait_for_messages(RESIDENT)
    await wait_until(lambda: all(r.processed_at for r in inbound_rows(db)))
    # Telegram delivers it again (e.g. the offset was not confirmed before a restart) …
    await gateway.process_update(Update.de_json(update, gateway.bot))
    # … and a later message proves the pipeline went on without doubling.
    await bot_api.push(updates.message_update(RESIDENT, "谢谢"))
    await bot_api.wait_for_messages(RESIDENT, count=2)
    assert rasa.texts_from(f"telegram:{RESIDENT}") == ["路灯坏了", "谢谢"]
    assert [c.text for c in bot_api.sent_to(RESIDENT)] == ["收到：路灯坏了", "收到：谢谢"]
    with db.uow() as uow:
        assert uow.session.execute(select(func.count(InboundMessage.id))).scalar() == 2


async def test_a_typed_forced_intent_never_reaches_rasa_as_an_intent(
        gateway, bot_api: BotApiServer, rasa: FakeRasa):
    await bot_api.push(updates.message_update(RESIDENT, '/rate{"score":5}'))
    await bot_api.wait_for_messages(RESIDENT)
    [sent] = rasa.received
    assert not sent["message"].startswith("/")
    assert sent["message"] == '／rate{"score":5}'


async def test_leading_spaces_do_not_smuggle_a_forced_intent(
        gateway, bot_api: BotApiServer, rasa: FakeRasa):
    await bot_api.push(updates.message_update(RESIDENT, '   /withdraw{"case_no":"MS-1"}'))
    await bot_api.wait_for_messages(RESIDENT)
    assert not rasa.received[0]["message"].lstrip().startswith("/")


async def test_our_commands_become_trusted_intents(gateway, bot_api: BotApiServer,
                                                    rasa: FakeRasa):
    await bot_api.push(updates.message_update(RESIDENT, "/start"))
    await bot_api.wait_for_messages(RESIDENT)
    await bot_api.push(updates.message_update(RESIDENT, "/cancel"))
    await bot_api.wait_for_messages(RESIDENT, count=2)
    assert rasa.texts_from(f"telegram:{RESIDENT}") == ["/greet", "/cancel"]


async def test_a_5000_character_message_is_stored_whole_and_trimmed_for_rasa(
        gateway, bot_api: BotApiServer, rasa: FakeRasa, db):
    long_text = "楼道堆满杂物，" * 715  # 5005 characters
    await bot_api.push(updates.message_update(RESIDENT, long_text[:5000]))
    await bot_api.wait_for_messages(RESIDENT)
    assert len(rasa.received[0]["message"]) == 1500
    [row] = await wait_until(lambda: [r for r in inbound_rows(db) if r.processed_at])
    assert row.payload["message"]["text"] == long_text[:5000]


async def test_html_in_text_is_passed_as_text_and_answered_without_a_parse_mode(
        gateway, bot_api: BotApiServer, rasa: FakeRasa):
    typed = '<b>楼道</b> & <a href="x">*杂物*</a> _堆放_'
    await bot_api.push(updates.message_update(RESIDENT, typed))
    [reply] = await bot_api.wait_for_messages(RESIDENT)
    assert rasa.received[0]["message"] == typed
    assert reply.text == f"收到：{typed}"
    assert "parse_mode" not in reply.params


async def test_a_sticker_is_answered_with_what_we_accept(gateway, bot_api: BotApiServer,
                                                        rasa: FakeRasa, db):
    await bot_api.push(updates.sticker_update(RESIDENT))
    [reply] = await bot_api.wait_for_messages(RESIDENT)
    assert "文字" in reply.text and "照片" in reply.text
    assert rasa.received == []
    await wait_until(lambda: all(r.processed_at for r in inbound_rows(db)))


async def test_an_empty_message_gets_a_clear_answer(gateway, bot_api: BotApiServer,
                                                    rasa: FakeRasa):
    await bot_api.push(updates.message_update(RESIDENT, "   "))
    [reply] = await bot_api.wait_for_messages(RESIDENT)
    assert "文字" in reply.text
    assert rasa.received == []


async def test_a_shared_location_and_contact_become_gateway_made_intents(
        gateway, bot_api: BotApiServer, rasa: FakeRasa):
    await bot_api.push(updates.location_update(RESIDENT, 39.9, 116.4))
    await bot_api.wait_for_messages(RESIDENT)
    await bot_api.push(updates.contact_update(RESIDENT, "+86 138-0013-8000"))
    await bot_api.wait_for_messages(RESIDENT, count=2)
    location, contact = rasa.texts_from(f"telegram:{RESIDENT}")
    assert location == '/share_location{"lat": 39.9, "lon": 116.4}'
    assert contact == '/provide_phone{"phone": "13800138000"}'


async def test_a_photo_is_saved_under_the_photos_folder_and_sent_as_its_path(
        gateway, bot_api: BotApiServer, rasa: FakeRasa, settings):
    bot_api.add_file("photo-1", jpeg_bytes())
    await bot_api.push(updates.photo_update(RESIDENT, "photo-1", size=len(jpeg_bytes())))
    await bot_api.wait_for_messages(RESIDENT)
    [sent] = rasa.texts_from(f"telegram:{RESIDENT}")
    assert sent.startswith("/send_photo")
    path = json.loads(sent[len("/send_photo"):])["photo"]
    assert path.startswith(str(settings.photos_dir))
    assert path.endswith(".jpg")
    assert Path(path).read_bytes() == jpeg_bytes()


async def test_a_decompression_bomb_photo_is_refused_and_never_reaches_rasa(
        gateway, bot_api: BotApiServer, rasa: FakeRasa, settings):
    bot_api.add_file("bomb", png_bomb())
    await bot_api.push(updates.photo_update(RESIDENT, "bomb", size=len(png_bomb())))
    [reply] = await bot_api.wait_for_messages(RESIDENT)
    assert "尺寸太大" in reply.text
    assert rasa.received == []
    assert not any(Path(settings.photos_dir).rglob("*.jpg"))


async def test_a_photo_over_the_size_limit_is_refused_politely(
        gateway, bot_api: BotApiServer, rasa: FakeRasa):
    bot_api.add_file("huge", b"x")
    await bot_api.push(updates.photo_update(RESIDENT, "huge", size=50 * 1024 * 1024))
    [reply] = await bot_api.wait_for_messages(RESIDENT)
    assert "太大" in reply.text
    assert rasa.received == []


async def test_rasa_buttons_become_an_inline_keyboard_and_a_press_sends_the_payload(
        gateway, bot_api: BotApiServer, rasa: FakeRasa):
    await bot_api.push(updates.message_update(RESIDENT, "请选择类别"))
    [offer] = await bot_api.wait_for_messages(RESIDENT)
    titles = [b["text"] for b in offer.buttons]
    assert titles == ["环境卫生", "乱堆乱放"]
    assert all(len(b["callback_data"].encode()) <= 64 for b in offer.buttons)
    press = updates.callback_update(RESIDENT, offer.buttons[1]["callback_data"],
                                    updates.sent_message(offer.result))
    await bot_api.push(press)
    await bot_api.wait_for_messages(RESIDENT, count=2)
    assert rasa.texts_from(f"telegram:{RESIDENT}")[-1] == \
        '/choose_category{"category": "clutter"}'
    assert bot_api.calls_of("answerCallbackQuery")


async def test_a_button_offered_before_a_gateway_restart_is_still_accepted(
        gateway, bot_api: BotApiServer, rasa: FakeRasa):
    """The offers live in memory; a restart (a crash, kill -9) empties it, and a press
    stored before it must still be answered: the offer is found in the kept replies."""
    from bot.buttons import OfferedButtons

    await bot_api.push(updates.message_update(RESIDENT, "请选择类别"))
    [offer] = await bot_api.wait_for_messages(RESIDENT)
    gateway.bot_data["gateway"].buttons = OfferedButtons()  # what a new process starts with
    await bot_api.push(updates.callback_update(RESIDENT, offer.buttons[1]["callback_data"],
                                               updates.sent_message(offer.result)))
    sent = await bot_api.wait_for_messages(RESIDENT, count=2)
    assert "失效" not in sent[1].text
    assert rasa.texts_from(f"telegram:{RESIDENT}")[-1] == \
        '/choose_category{"category": "clutter"}'


async def test_a_forged_resident_callback_is_refused_and_never_reaches_rasa(
        gateway, bot_api: BotApiServer, rasa: FakeRasa):
    await bot_api.push(updates.callback_update(RESIDENT, "r:00deadbeef000000"))
    [reply] = await bot_api.wait_for_messages(RESIDENT)
    assert "失效" in reply.text
    assert rasa.received == []
    assert bot_api.calls_of("answerCallbackQuery")


async def test_a_button_offered_to_another_chat_is_refused(
        gateway, bot_api: BotApiServer, rasa: FakeRasa):
    other = RESIDENT + 1
    await bot_api.push(updates.message_update(other, "请选择类别"))
    [offer] = await bot_api.wait_for_messages(other)
    await bot_api.push(updates.callback_update(RESIDENT, offer.buttons[0]["callback_data"]))
    [reply] = await bot_api.wait_for_messages(RESIDENT)
    assert "失效" in reply.text
    assert rasa.texts_from(f"telegram:{RESIDENT}") == []


async def test_when_rasa_is_down_the_resident_is_told_once_and_answered_when_it_is_back(
        gateway, bot_api: BotApiServer, rasa: FakeRasa, db):
    port = rasa.port
    await rasa.stop()
    await bot_api.push(updates.message_update(RESIDENT, "井盖丢了"))
    [busy] = await bot_api.wait_for_messages(RESIDENT)
    assert "系统繁忙" in busy.text and "记下" in busy.text
    await bot_api.push(updates.message_update(RESIDENT, "在东门口"))
    # the retry loop keeps trying while Rasa is down; the resident is not told again
    await wait_until(lambda: all(r.attempts >= 2 for r in inbound_rows(db)))
    assert len(bot_api.sent_to(RESIDENT)) == 1
    assert all(r.processed_at is None for r in inbound_rows(db))

    await rasa.start(port)
    replies = await bot_api.wait_for_messages(RESIDENT, count=3)
    assert [c.text for c in replies[1:]] == ["收到：井盖丢了", "收到：在东门口"]
    assert rasa.texts_from(f"telegram:{RESIDENT}") == ["井盖丢了", "在东门口"]
    await wait_until(lambda: all(r.processed_at for r in inbound_rows(db)))


async def test_a_deferred_update_is_recorded_failed_before_the_resident_is_told(settings, db,
                                                                                options):
    from bot.gateway import Gateway

    gateway = Gateway(settings, db, options)
    update = Update.de_json({"update_id": 700001, **updates.message_update(RESIDENT, "井盖丢了")},
                            None)
    assert await gateway.claim(update)
    await gateway.defer(update, "RasaUnavailable: down")
    # written now, not at finish(): the chat's next message must see it (told once)
    [row] = inbound_rows(db)
    assert row.attempts == 1 and row.processed_at is None and "down" in row.last_error
    await gateway.defer(update, "a second error for the same turn")
    await gateway.finish(update)
    [row] = inbound_rows(db)
    assert row.attempts == 1 and row.processed_at is None
    await gateway.close()
