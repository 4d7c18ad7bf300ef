"""Cancel, triage of unsure messages, message keys and emergency advice (the NLU log is
written by the Rasa process: tests/integration/test_cached_tracker_store.py)."""
from __future__ import annotations

from actions.common import message_key, split_sender
from actions.emergency import emergency_advice
from actions.report import ActionCancel, ActionTriage, category_buttons
from minsheng.enums import Channel
from tests.actions.factories import DOMAIN, make_tracker, ranking, responses, slot_events


def test_sender_ids_name_the_channel():
    assert split_sender("telegram:123456789") == (Channel.telegram, "123456789")
    assert split_sender("web:abc123") == (Channel.web, "abc123")
    assert split_sender("abc123") == (Channel.web, "abc123")


def test_the_gateways_update_id_is_the_message_key_so_redelivery_repeats_it():
    tracker = make_tracker("x", metadata={"update_id": 991}, message_id="random-uuid")
    assert message_key(tracker) == "update_id:991"
    assert message_key(make_tracker("x", message_id="m-7")) == "m-7"


def test_emergency_advice_names_the_number_for_the_kind_of_danger():
    assert "119" in emergency_advice("厨房燃气泄漏了")
    assert "110" in emergency_advice("楼下有人持刀打人")
    assert "120" in emergency_advice("老人摔倒流血了")
    general = emergency_advice("快来人啊")
    assert all(n in general for n in ("119", "110", "120"))


def test_category_buttons_list_all_seven_best_first_as_choose_category_payloads():
    buttons = category_buttons(["public_order", "dispute"])
    assert len(buttons) == 7
    assert buttons[0] == {"title": "治安稳定",
                          "payload": '/choose_category{"category": "public_order"}'}
    assert buttons[1]["title"] == "矛盾纠纷"


async def test_cancel_inside_a_form_resets_the_report_and_leaves_the_form(database, dispatcher):
    tracker = make_tracker("取消", "cancel", form="report_form", requested="place",
                           slots={"description": "垃圾", "category": "sanitation"})
    events = await ActionCancel().run(dispatcher, tracker, DOMAIN)
    assert any(e["event"] == "active_loop" and e["name"] is None for e in events)
    slots = slot_events(events)
    assert slots["description"] is None and slots["category"] is None
    assert responses(dispatcher) == ["utter_report_cancelled"]


async def test_cancel_with_nothing_going_on_says_so(database, dispatcher):
    await ActionCancel().run(dispatcher, make_tracker("取消", "cancel"), DOMAIN)
    assert responses(dispatcher) == ["utter_nothing_to_cancel"]


async def test_an_unsure_report_is_asked_about_and_chit_chat_is_not(database, dispatcher):
    report_like = make_tracker("门口那个", "nlu_fallback", intent_ranking=ranking(
        ("nlu_fallback", 0.6), ("report_clutter", 0.45), ("report_sanitation", 0.3)))
    events = await ActionTriage().run(dispatcher, report_like, DOMAIN)
    assert slot_events(events) == {"looks_like_report": True}
    assert dispatcher.messages == []
    chat = make_tracker("今天好热", "nlu_fallback", intent_ranking=ranking(
        ("nlu_fallback", 0.6), ("out_of_scope", 0.5), ("report_clutter", 0.1)))
    events = await ActionTriage().run(dispatcher, chat, DOMAIN)
    assert slot_events(events) == {"looks_like_report": False}
    assert responses(dispatcher) == ["utter_out_of_scope"]
