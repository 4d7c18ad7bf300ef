"""Rasa's replies as WeChat text (no Rasa, no HTTP)."""
from __future__ import annotations

import pytest

from bot.wechat import render
from bot.wechat.protocol import BadMessage, parse, signature, signature_valid


def test_rasa_messages_become_one_text_with_the_buttons_numbered_across_all_of_them():
    replies = [{"text": "请选择类别：", "buttons": [{"title": "乱堆乱放", "payload": "/a"}]},
               {"text": "或者：", "buttons": [{"title": "环境卫生", "payload": "/b"}]}]
    assert render.pieces(replies) == [{"text": "请选择类别：\n回复数字选择：\n1. 乱堆乱放\n\n"
                                                "或者：\n回复数字选择：\n2. 环境卫生"}]
    assert [(o.number, o.payload) for o in render.options_of(replies)] == [(1, "/a"), (2, "/b")]


def test_a_request_for_a_location_or_a_phone_becomes_a_hint_in_the_text():
    [piece] = render.pieces([{"custom": {"text": "问题在哪里？", "request_location": True,
                                         "request_contact": "发送手机号"}}])
    assert piece == {"text": f"问题在哪里？\n{render.LOCATION_HINT}\n{render.PHONE_HINT}"}


def test_an_image_is_a_message_of_its_own_between_the_texts_around_it_in_order():
    replies = [{"text": "处理前："}, {"image": "/photos/a.jpg"},
               {"text": "处理后：", "image": "https://example.org/b.png"},
               {"text": "满意吗？", "buttons": [{"title": "满意", "payload": "/s"}]}]
    assert render.pieces(replies) == [
        {"text": "处理前："}, {"image": "/photos/a.jpg"}, {"text": "处理后："},
        {"image": "https://example.org/b.png"}, {"text": "满意吗？\n回复数字选择：\n1. 满意"}]


def test_a_long_text_is_split_into_pieces_wechat_accepts_at_line_breaks():
    text = "\n".join(["民生说事" * 40] * 10)  # 480 bytes a line
    pieces = render.split(text)
    assert all(len(p.encode()) <= render.TEXT_LIMIT_BYTES for p in pieces)
    assert "\n".join(pieces) == text
    assert render.split("") == []


def test_offered_options_belong_to_one_resident_and_a_new_offer_replaces_the_old():
    offers = render.OfferedOptions()
    offers.offer("oA", render.options_of([{"buttons": [{"title": "满意", "payload": "/s"}]}]))
    assert offers.answer("oA", "1").payload == "/s"
    assert offers.answer("oA", "满意").payload == "/s"
    assert offers.answer("oB", "1") is None
    offers.offer("oA", [])
    assert offers.answer("oA", "1") is None


def test_the_signature_is_checked_in_constant_time_against_our_token_and_a_fresh_timestamp():
    good = signature("tok", "1700000000", "n")
    assert signature_valid("tok", good, "1700000000", "n", now=1700000010)
    assert not signature_valid("tok", good, "1700000000", "n", now=1700009999)
    assert not signature_valid("other", good, "1700000000", "n", now=1700000010)
    assert not signature_valid("tok", "", "1700000000", "n", now=1700000010)


def test_xml_with_entities_is_refused_before_anything_is_read():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaa">]>'
            b"<xml><ToUserName>&a;</ToUserName><FromUserName>o</FromUserName>"
            b"<MsgType>text</MsgType></xml>")
    with pytest.raises(BadMessage):
        parse(bomb)


def test_every_template_state_fits_the_five_characters_of_a_phrase_field():
    from bot.wechat import template

    assert all(len(state) <= 5 for state in [*template.STATES.values(), template.OTHER_STATE])
