"""Bad input on Telegram: every kind gets a clear Chinese answer, nothing reaches Rasa
that a resident did not visibly type, and nothing is stored wrongly."""
from __future__ import annotations

import pytest

from bot import render
from tests.botapi import updates
from tests.botapi.fake_rasa import FakeRasa
from tests.botapi.server import BotApiServer

RESIDENT = 421000888


@pytest.mark.parametrize("kind", ["voice", "video", "video_note", "audio", "document"])
async def test_media_we_do_not_take_is_answered_with_what_we_accept(
        gateway, bot_api: BotApiServer, rasa: FakeRasa, kind):
    await bot_api.push(updates.media_update(RESIDENT, kind))
    [reply] = await bot_api.wait_for_messages(RESIDENT)
    assert reply.text == render.UNSUPPORTED
    assert rasa.received == []


@pytest.mark.parametrize("typed", ["\u200b\u200b", "\u200d\ufeff", "\x00"])
async def test_a_message_with_nothing_visible_is_asked_for_words(
        gateway, bot_api: BotApiServer, rasa: FakeRasa, typed):
    await bot_api.push(updates.message_update(RESIDENT, typed))
    [reply] = await bot_api.wait_for_messages(RESIDENT)
    assert reply.text == render.EMPTY_MESSAGE
    assert rasa.received == []


@pytest.mark.parametrize("typed,rasa_reads", [
    ("\u202e楼道堆满杂物", "楼道堆满杂物"),  # a bidi override would reverse the display
    ("楼道\x00堆满\u200b杂物", "楼道堆满杂物"),
    ("<b>楼道</b> **堆满** _杂物_ [链接](http://x)", "<b>楼道</b> **堆满** _杂物_ [链接](http://x)"),
    ("'; DROP TABLE cases; --", "'; DROP TABLE cases; --"),
    ("樓道堆滿雜物，沒人管", "樓道堆滿雜物，沒人管"),
    ("😡😡😡", "😡😡😡"),
    (" /report_clutter{\"description\": \"x\"}", "／report_clutter{\"description\": \"x\"}"),
])
async def test_odd_text_reaches_rasa_as_what_was_visibly_typed_and_gets_an_answer(
        gateway, bot_api: BotApiServer, rasa: FakeRasa, typed, rasa_reads):
    await bot_api.push(updates.message_update(RESIDENT, typed))
    [reply] = await bot_api.wait_for_messages(RESIDENT)
    assert reply.text
    assert rasa.texts_from(f"telegram:{RESIDENT}") == [rasa_reads]


async def test_a_5000_character_message_is_kept_whole_and_trimmed_for_rasa(
        gateway, bot_api: BotApiServer, rasa: FakeRasa, options):
    long_text = "楼道堆满杂物。" * 715  # 5,005 characters
    await bot_api.push(updates.message_update(RESIDENT, long_text))
    await bot_api.wait_for_messages(RESIDENT)
    [sent] = rasa.texts_from(f"telegram:{RESIDENT}")
    assert len(sent) == options.max_rasa_text and long_text.startswith(sent)


async def test_a_photo_whose_caption_is_the_report_sends_both(
        gateway, bot_api: BotApiServer, rasa: FakeRasa):
    from tests.factories import jpeg_bytes

    bot_api.add_file("cap-1", jpeg_bytes())
    await bot_api.push(updates.photo_update(RESIDENT, "cap-1", size=len(jpeg_bytes()),
                                            caption="3号楼楼道堆满杂物"))
    await bot_api.wait_for_messages(RESIDENT, count=2)
    caption, photo = rasa.texts_from(f"telegram:{RESIDENT}")
    assert caption == "3号楼楼道堆满杂物" and photo.startswith("/send_photo")
