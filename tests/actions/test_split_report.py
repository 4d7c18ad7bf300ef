"""Several problems in one message become several cases; a new report typed in the middle
of another is asked about, not added to it. A message is split while Rasa parses it: here by
the real trained model with nlu/split_at_parse.py (``rasa_parse`` of tests/actions/conftest.py)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from actions.report import ActionAskConfirm, ActionOpenCase
from actions.report_form import ValidateReportForm
from actions.split import ActionAskNewProblem, ActionAskSplitConfirm
from minsheng.enums import GridLevel, StaffRole
from minsheng.models import Case, Grid, Staff
from nlu.split import PROBLEMS
from tests.actions.factories import DOMAIN, make_tracker, ranking, slot_events, texts

TWO = "小区门口的垃圾三天没人清了，另外3号楼的路灯也坏了"
ONE_LONG = ("幸福里小区3号楼楼道里堆满了纸箱。还有，楼道里的旧家具也一直没人搬。"
            "进出都得侧着身子，希望尽快处理")


async def run_form(dispatcher, tracker) -> list[dict]:
    return await ValidateReportForm().run(dispatcher, tracker, DOMAIN)


def start(text: str, intent: str = "report_sanitation", confidence: float = 0.9):
    return make_tracker(text, intent, confidence)


async def parsed_start(rasa_parse, text: str):
    """The first message of a report, as our Rasa server parsed it."""
    parse_data = await rasa_parse(text)
    return make_tracker(text, parse_data=parse_data), parse_data


@pytest.mark.slow
async def test_a_message_with_two_problems_is_offered_as_two_with_their_categories(
    rasa_parse, dispatcher
):
    tracker, parse_data = await parsed_start(rasa_parse, TWO)
    assert len(parse_data[PROBLEMS]) == 2  # Rasa split it while parsing it
    slots = slot_events(await run_form(dispatcher, tracker))
    problems = slots["problems"]
    assert [p["category"] for p in problems] == ["sanitation", "livelihood"]
    assert problems[0]["text"].startswith("小区门口的垃圾")
    assert problems[1]["text"].startswith("另外3号楼的路灯")
    assert problems[1]["building"] == "3号楼" and problems[0]["building"] is None
    assert slots["requested_slot"] == "split_confirm"


async def test_the_offer_names_both_problems_with_their_categories_and_two_buttons(dispatcher):
    problems = [{"text": "小区门口的垃圾三天没人清了", "category": "sanitation"},
                {"text": "另外3号楼的路灯也坏了", "category": "livelihood"}]
    tracker = make_tracker("", slots={"problems": problems})
    await ActionAskSplitConfirm().run(dispatcher, tracker, DOMAIN)
    message = dispatcher.messages[0]
    assert message["text"].startswith("您说了两个问题：\n1. 小区门口的垃圾三天没人清了（环境卫生）\n"
                                      "2. 另外3号楼的路灯也坏了（民生诉求）\n要分别登记吗？")
    assert [b["title"] for b in message["buttons"]] == ["分别登记", "作为一件登记"]


@pytest.mark.slow
async def test_a_long_single_problem_and_a_one_sentence_report_are_not_split(
    rasa_parse, dispatcher
):
    tracker, parse_data = await parsed_start(rasa_parse, ONE_LONG)
    assert parse_data[PROBLEMS] is None  # cut and classified piece by piece: one problem
    slots = slot_events(await run_form(dispatcher, tracker))
    assert slots["problems"] is None and slots["category"] == "clutter"
    assert slots.get("requested_slot") != "split_confirm"  # Rasa asks the next one itself
    tracker, parse_data = await parsed_start(rasa_parse, "楼下垃圾好几天没人清了")
    assert PROBLEMS not in parse_data  # nothing to cut, nothing classified
    slots = slot_events(await run_form(dispatcher, tracker))
    assert slots["problems"] is None


async def test_a_message_rasa_did_not_split_stays_one_report(database, dispatcher):
    slots = slot_events(await run_form(dispatcher, start(TWO)))
    assert slots["problems"] is None and slots["category"] == "sanitation"
    assert slots["description"] == TWO


PARTS = [
    {"text": "幸福里小区门口的垃圾三天没人清了", "category": "sanitation", "xiaoqu": "幸福里小区",
     "building": None, "unit": None, "room": None},
    {"text": "另外阳光花园5号楼的路灯也坏了", "category": "livelihood", "xiaoqu": "阳光花园",
     "building": "5号楼", "unit": None, "room": None},
]


def at_split_question(text: str, intent: str, **entities):
    from tests.actions.factories import ents

    return make_tracker(text, intent, entities=ents(**entities) if entities else None,
                        form="report_form", requested="split_confirm",
                        slots={"description": "…", "category": "sanitation",
                               "problems": PARTS})


async def test_pressing_separately_keeps_the_parts_and_typing_one_case_drops_them(dispatcher):
    slots = slot_events(await run_form(
        dispatcher, at_split_question('/choose_split{"choice": "separate"}', "choose_split",
                                      choice="separate")))
    assert slots["split_confirm"] is True and slots["category"] == "sanitation"
    slots = slot_events(await run_form(dispatcher, at_split_question("作为一件登记吧", "affirm")))
    assert slots["split_confirm"] is False and slots["problems"] is None


async def test_an_answer_that_is_neither_is_asked_again(dispatcher):
    slots = slot_events(await run_form(dispatcher, at_split_question("嗯嗯", "out_of_scope")))
    assert slots["split_confirm"] is None
    assert "分别登记" in texts(dispatcher)


@pytest.fixture
def two_grids(grid):
    with grid.uow() as uow:
        s = uow.session
        community = s.execute(select(Grid).where(Grid.code == "C01")).scalar_one()
        other = Grid(code="C01-G2", name="阳光花园网格", level=GridLevel.grid,
                     parent_id=community.id, xiaoqu=["阳光花园"], buildings=[])
        s.add(other)
        s.flush()
        s.add(Staff(name="陈阳光", public_name="陈网格", role=StaffRole.grid_worker,
                    grid_id=other.id, duty_phone="0311-8000009"))
        uow.commit()
    return grid


def confirmed(problems, **slots):
    return make_tracker("/affirm", "affirm", slots={
        "description": "幸福里小区门口的垃圾三天没人清了，另外阳光花园5号楼的路灯也坏了",
        "description_key": "update_id:70", "category": problems[0]["category"],
        "place": "幸福里小区", "xiaoqu": "幸福里小区", "photos_done": True, "phone": "-",
        "confirm": True, "problems": problems, "split_confirm": True, **slots})


async def test_confirming_two_problems_opens_two_cases_each_routed_on_its_own(
    two_grids, dispatcher
):
    events = await ActionOpenCase().run(dispatcher, confirmed(PARTS), DOMAIN)
    with two_grids.uow() as uow:
        rows = uow.session.execute(select(Case).order_by(Case.id)).scalars().all()
        opened = [(c.category.value, c.xiaoqu, c.building, c.assignee.public_name,
                   c.description) for c in rows]
        numbers = [c.case_no for c in rows]
    assert opened == [
        ("sanitation", "幸福里小区", None, "王网格", "幸福里小区门口的垃圾三天没人清了"),
        ("livelihood", "阳光花园", "5号楼", "陈网格", "另外阳光花园5号楼的路灯也坏了"),
    ]
    reply = texts(dispatcher)
    assert f"2 个问题已分别登记，工单号：{numbers[0]}、{numbers[1]}" in reply
    assert "环境卫生" in reply and "民生诉求" in reply
    slots = slot_events(events)
    assert slots["last_case_no"] == numbers[1] and slots["problems"] is None


async def test_a_part_naming_only_a_building_takes_the_estate_of_the_report(
    two_grids, dispatcher
):
    problems = [{**PARTS[0], "xiaoqu": None},
                {**PARTS[1], "xiaoqu": None, "building": "3号楼"}]
    await ActionOpenCase().run(dispatcher, confirmed(problems), DOMAIN)
    with two_grids.uow() as uow:
        rows = uow.session.execute(select(Case).order_by(Case.id)).scalars().all()
        assert [(c.xiaoqu, c.building, c.grid.code) for c in rows] == [
            ("幸福里小区", None, "C01-G1"), ("幸福里小区", "3号楼", "C01-G1")]


async def test_a_retried_confirmation_opens_no_third_case(two_grids, dispatcher):
    await ActionOpenCase().run(dispatcher, confirmed(PARTS), DOMAIN)
    await ActionOpenCase().run(dispatcher, confirmed(PARTS), DOMAIN)
    with two_grids.uow() as uow:
        assert len(uow.session.execute(select(Case)).scalars().all()) == 2


async def test_the_summary_lists_each_problem_with_its_category_and_place(dispatcher):
    tracker = confirmed(PARTS, confirm=None)
    await ActionAskConfirm().run(dispatcher, tracker, DOMAIN)
    message = dispatcher.messages[0]
    assert "1. 幸福里小区门口的垃圾三天没人清了（环境卫生）地点：幸福里小区" in message["text"]
    assert "2. 另外阳光花园5号楼的路灯也坏了（民生诉求）地点：阳光花园5号楼" in message["text"]
    titles = [b["title"] for b in message["buttons"]]
    assert "改类别" not in titles and "确认提交" in titles and "不报了" in titles


# --- a new report typed while the first is still being filled in --------------------------

FIRST = {"description": "幸福里小区3号楼楼道堆满纸箱", "category": "clutter",
         "place": "幸福里小区3号楼", "xiaoqu": "幸福里小区", "building": "3号楼"}
NEW_TEXT = "还有小区门口的路灯坏了好几天了"


def typed_at(step: str, text: str = NEW_TEXT, intent: str = "report_livelihood",
             confidence: float = 0.9, **slots):
    return make_tracker(text, intent, confidence, form="report_form", requested=step,
                        intent_ranking=ranking((intent, confidence), ("report_clutter", 0.05)),
                        slots={**FIRST, **slots})


async def test_a_new_report_at_the_photo_question_is_asked_about_not_appended(dispatcher):
    slots = slot_events(await run_form(dispatcher, typed_at("photos_done")))
    assert slots["requested_slot"] == "new_problem"
    assert slots["pending_report"]["text"] == NEW_TEXT
    assert slots["pending_report"]["category"] == "livelihood"
    assert "description" not in slots and "photos_done" not in slots
    tracker = typed_at("new_problem", "", "choose_split", pending_report=slots["pending_report"])
    await ActionAskNewProblem().run(dispatcher, tracker, DOMAIN)
    message = dispatcher.messages[-1]
    assert NEW_TEXT in message["text"] and "民生诉求" in message["text"]
    assert [b["title"] for b in message["buttons"]] == ["是另一个新问题", "补充到刚才这件"]


async def answered(dispatcher, choice: str):
    from tests.actions.factories import ents

    pending = {"text": NEW_TEXT, "category": "livelihood", "xiaoqu": None, "building": None,
               "unit": None, "room": None, "step": "photos_done"}
    tracker = make_tracker(f'/choose_split{{"choice": "{choice}"}}', "choose_split",
                           entities=ents(choice=choice), form="report_form",
                           requested="new_problem", slots={**FIRST, "pending_report": pending})
    return slot_events(await run_form(dispatcher, tracker))


async def test_a_new_problem_becomes_the_second_of_two_and_the_photo_question_comes_back(
    dispatcher
):
    slots = await answered(dispatcher, "new")
    assert [(p["text"], p["category"]) for p in slots["problems"]] == [
        ("幸福里小区3号楼楼道堆满纸箱", "clutter"), (NEW_TEXT, "livelihood")]
    assert slots["split_confirm"] is True and slots["pending_report"] is None
    assert slots["requested_slot"] == "photos_done"


async def test_more_about_the_same_report_is_added_to_its_description(dispatcher):
    slots = await answered(dispatcher, "same")
    assert slots["description"] == f"幸福里小区3号楼楼道堆满纸箱；{NEW_TEXT}"
    assert slots.get("problems") is None and slots["pending_report"] is None


async def test_an_answer_to_the_question_asked_is_not_taken_for_a_new_report(dispatcher):
    slots = slot_events(await run_form(dispatcher, typed_at("phone", "13812345678",
                                                            "provide_phone")))
    assert slots["phone"] == "13812345678" and "pending_report" not in slots
    slots = slot_events(await run_form(
        dispatcher, typed_at("place", "阳光花园5栋", "report_livelihood", place=None, xiaoqu=None,
                             building=None)))
    assert slots["place"] == "阳光花园5号楼" and "pending_report" not in slots
