"""The report form reads each answer for the question that was asked."""
from __future__ import annotations

from sqlalchemy import select

from actions.report_form import ValidateReportForm
from minsheng.models import NluMessage
from tests.actions.factories import DOMAIN, ents, make_tracker, ranking, responses, slot_events


async def run_form(dispatcher, tracker):
    return slot_events(await ValidateReportForm().run(dispatcher, tracker, DOMAIN))


async def test_a_message_with_problem_and_place_fills_description_category_and_place(
    database, dispatcher
):
    tracker = make_tracker(
        "幸福里小区3号楼楼道有人飞线充电", "report_safety_hazard", 0.93,
        entities=ents(xiaoqu="幸福里小区", building="3号楼"),
    )
    slots = await run_form(dispatcher, tracker)
    assert slots["description"] == "幸福里小区3号楼楼道有人飞线充电"
    assert slots["category"] == "safety_hazard"
    assert slots["place"] == "幸福里小区3号楼"
    assert (slots["xiaoqu"], slots["building"]) == ("幸福里小区", "3号楼")
    assert slots["description_key"] == "m-1"
    assert "photos_done" not in slots and "phone" not in slots
    assert dispatcher.messages == []


async def test_place_is_parsed_from_the_text_when_no_entities_came(database, dispatcher):
    slots = await run_form(dispatcher, make_tracker("阳光花园5栋2单元门口堆满了旧家具"))
    assert slots["place"] == "阳光花园5号楼2单元"
    assert slots["unit"] == "2单元"


async def test_low_confidence_leaves_the_category_open_with_candidates_best_first(
    database, dispatcher
):
    tracker = make_tracker(
        "门口那个东西好几天了没人管", "nlu_fallback", 0.6,
        intent_ranking=ranking(("nlu_fallback", 0.6), ("report_clutter", 0.41),
                               ("report_sanitation", 0.38), ("greet", 0.05)),
    )
    slots = await run_form(dispatcher, tracker)
    assert slots["category"] is None
    assert slots["category_candidates"][:2] == ["clutter", "sanitation"]
    assert slots["category_predicted"] == "clutter"
    assert len(slots["category_candidates"]) == 7


async def test_a_category_button_sets_it_and_records_the_residents_correction(
    database, dispatcher
):
    with database.uow() as uow:
        from minsheng import nlu_log

        # as the Rasa process logs them (nlu/message_log.py): the description, keyed by
        # its message, and the same key from another chat
        for sender in ("telegram:4242", "telegram:4243"):
            nlu_log.record_prediction(uow, "telegram", sender, "门口那个东西", "clutter", 0.41,
                                      message_key="update_id:500")
        uow.commit()
    tracker = make_tracker(
        '/choose_category{"category": "sanitation"}', "choose_category",
        entities=ents(category="sanitation"), form="report_form", requested="category",
        slots={"description": "门口那个东西", "category_predicted": "clutter",
               "description_key": "update_id:500"},
    )
    slots = await run_form(dispatcher, tracker)
    assert slots["category"] == "sanitation"
    with database.uow() as uow:
        stored = uow.session.execute(select(NluMessage).order_by(NluMessage.id)).scalars()
        assert [(m.sender, m.corrected_label, m.corrected_by) for m in stored] == [
            ("telegram:4242", "sanitation", "resident"), ("telegram:4243", None, None)]


async def test_a_typed_category_name_is_understood_and_nonsense_is_asked_again(
    database, dispatcher
):
    asked = {"form": "report_form", "requested": "category", "slots": {"description": "x问题"}}
    slots = await run_form(dispatcher, make_tracker("乱堆乱放", "out_of_scope", **asked))
    assert slots["category"] == "clutter"
    slots = await run_form(dispatcher, make_tracker("不知道", "out_of_scope", **asked))
    assert slots["category"] is None
    assert responses(dispatcher) == ["utter_category_not_understood"]


async def test_a_nonsense_place_is_asked_again_with_one_specific_message(database, dispatcher):
    tracker = make_tracker("啊啊啊", "out_of_scope", form="report_form", requested="place",
                           slots={"description": "垃圾没人清", "category": "sanitation"})
    slots = await run_form(dispatcher, tracker)
    assert slots["place"] is None
    assert responses(dispatcher) == ["utter_place_not_understood"]


async def test_a_road_address_is_accepted_as_written(database, dispatcher):
    tracker = make_tracker("人民路和建设街交叉口", "provide_place", form="report_form",
                           requested="place")
    assert (await run_form(dispatcher, tracker))["place"] == "人民路和建设街交叉口"


async def test_a_shared_location_is_a_place(database, dispatcher):
    tracker = make_tracker('/share_location{"lat": 39.91, "lon": 116.4}', "share_location",
                           entities=ents(lat=39.91, lon=116.4), form="report_form",
                           requested="place")
    slots = await run_form(dispatcher, tracker)
    assert (slots["lat"], slots["lon"]) == (39.91, 116.4)
    assert slots["place"].startswith("共享位置")


async def test_photos_are_collected_until_the_resident_says_done(database, dispatcher):
    asked = {"form": "report_form", "requested": "photos_done"}
    tracker = make_tracker('/send_photo{"photo": "var/photos/a.jpg"}', "send_photo",
                           entities=ents(photo="var/photos/a.jpg"),
                           slots={"photos": ["var/photos/0.jpg"]}, **asked)
    slots = await run_form(dispatcher, tracker)
    assert slots["photos"] == ["var/photos/0.jpg", "var/photos/a.jpg"]
    assert slots["photos_done"] is None
    slots = await run_form(dispatcher, make_tracker("/skip", "skip", **asked))
    assert slots["photos_done"] is True


async def test_an_invalid_phone_is_refused_and_a_valid_one_normalised(database, dispatcher):
    asked = {"form": "report_form", "requested": "phone"}
    slots = await run_form(dispatcher, make_tracker("12345678", "provide_phone", **asked))
    assert slots["phone"] is None
    assert responses(dispatcher) == ["utter_phone_invalid"]
    slots = await run_form(dispatcher, make_tracker("+86 138-1234-5678", "provide_phone", **asked))
    assert slots["phone"] == "13812345678"
    slots = await run_form(dispatcher, make_tracker("跳过", "skip", **asked))
    assert slots["phone"] == "-"


async def test_changing_the_place_at_the_summary_clears_every_place_part(database, dispatcher):
    tracker = make_tracker('/change_field{"field": "place"}', "change_field",
                           entities=ents(field="place"), form="report_form", requested="confirm",
                           slots={"place": "幸福里小区3号楼", "xiaoqu": "幸福里小区",
                                  "building": "3号楼"})
    slots = await run_form(dispatcher, tracker)
    assert slots["confirm"] is None
    assert all(slots[k] is None for k in ("place", "xiaoqu", "building", "lat", "lon"))


async def test_cancel_fills_nothing_so_the_form_lets_the_cancel_rule_run(database, dispatcher):
    tracker = make_tracker("不报了", "cancel", form="report_form", requested="place")
    assert await ValidateReportForm().run(dispatcher, tracker, DOMAIN) == []


async def test_a_late_category_press_corrects_the_category_and_the_question_stays(
    database, dispatcher
):
    tracker = make_tracker('/choose_category{"category": "clutter"}', "choose_category",
                           entities=ents(category="clutter"), form="report_form",
                           requested="place", slots={"description": "门口那个东西",
                                                     "category": "sanitation"})
    slots = await run_form(dispatcher, tracker)
    assert slots == {"category": "clutter"}
    assert dispatcher.messages == []


async def test_a_rating_button_or_a_resolved_case_is_no_answer_to_the_report_question(
    database, dispatcher
):
    asked = {"description": "楼道里堆满了纸箱", "category": "clutter"}
    press = make_tracker('/rate_satisfied{"case_no": "MS-20261122-0001"}', "rate_satisfied",
                         entities=ents(case_no="MS-20261122-0001"), form="report_form",
                         requested="place", slots=asked)
    started = make_tracker('/start_rating{"case_no": "MS-20261122-0001"}', "start_rating",
                           entities=ents(case_no="MS-20261122-0001"), form="report_form",
                           requested="phone", slots=asked)
    for tracker in (press, started):
        slots = await run_form(dispatcher, tracker)
        # nothing extracted: Rasa rejects the form and the rating rules answer the press
        assert "place" not in slots and "phone" not in slots
    assert dispatcher.messages == []
