"""The report form with place names from the grid table (nlu.entities `landmark`)."""
from __future__ import annotations

from actions.report_form import ValidateReportForm
from tests.actions.factories import DOMAIN, ents, make_tracker, responses, slot_events


async def run_form(dispatcher, tracker):
    return slot_events(await ValidateReportForm().run(dispatcher, tracker, DOMAIN))


async def test_a_first_message_naming_only_a_landmark_has_its_place(database, dispatcher):
    tracker = make_tracker("幸福菜市场门口的垃圾三天没人清了", "report_sanitation", 0.9,
                           entities=ents(landmark="幸福菜市场"))
    slots = await run_form(dispatcher, tracker)
    assert slots["place"] == "幸福菜市场"
    assert slots.get("xiaoqu") is None


async def test_a_landmark_answer_without_any_place_word_is_accepted(database, dispatcher):
    asked = {"form": "report_form", "requested": "place",
             "slots": {"description": "垃圾没人清", "category": "sanitation"}}
    slots = await run_form(dispatcher, make_tracker("老槐树底下", "provide_place",
                                                    entities=ents(landmark="老槐树"), **asked))
    assert slots["place"] == "老槐树底下"
    slots = await run_form(dispatcher, make_tracker("老槐树底下", "provide_place", **asked))
    assert slots["place"] is None  # the same words the grid table does not know
    assert responses(dispatcher) == ["utter_place_not_understood"]
