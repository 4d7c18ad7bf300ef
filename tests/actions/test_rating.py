"""The rating conversation: buttons carry the case number, stale presses get an answer,
and a report typed at the rating question is let go (real services, migrated SQLite)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from actions.rating import ActionAskRating, ActionSubmitRating, ValidateRatingForm
from minsheng.enums import Category
from minsheng.models import Staff
from minsheng.places import Place
from minsheng.services import cases
from minsheng.services.contract import NewCase, ResidentRef
from tests.actions.factories import DOMAIN, ents, make_tracker, ranking, slot_events, texts

SENDER = "telegram:4242"
ME = ResidentRef("telegram", "4242")


@pytest.fixture
def worker(grid):
    with grid.uow() as uow:
        return uow.session.execute(
            select(Staff.id).where(Staff.public_name == "王网格")).scalar_one()


def open_and_resolve(db, worker_id, key: str, description: str, note: str, photo=None) -> str:
    with db.uow() as uow:
        result = cases.open_case(uow, NewCase(
            channel="telegram", idempotency_key=key, description=description,
            category=Category.clutter, place=Place("幸福里小区", "3号楼", None, None),
            resident=ME, photos=[]))
        case_no = result.case_no
    with db.uow() as uow:
        cases.acknowledge(uow, case_no, worker_id)
        # 乱堆乱放 is resolved with a photo (the 办结 rule)
        cases.resolve(uow, case_no, worker_id, note, photo_path=photo or "var/photos/after.jpg")
    return case_no


@pytest.fixture
def two_resolved(grid, worker):
    """An older and a newer resolved case of the same resident, both awaiting a rating."""
    older = open_and_resolve(grid, worker, "k1", "楼道堆满纸箱", "纸箱已清走")
    # a different place so that the second report is not merged into the first
    with grid.uow() as uow:
        newer = cases.open_case(uow, NewCase(
            channel="telegram", idempotency_key="k2", description="单元门口电动车乱停",
            category=Category.clutter, place=Place("幸福里小区", "3号楼", "1单元", None),
            resident=ME)).case_no
    with grid.uow() as uow:
        cases.acknowledge(uow, newer, worker)
        cases.resolve(uow, newer, worker, "已劝离挪走", photo_path="var/photos/after.jpg")
    assert older != newer
    return older, newer


def views_of(numbers) -> dict:
    from actions import common

    with common.unit_of_work() as uow:
        return {no: cases.get_case(uow, no) for no in numbers}


def press(rating: str, case_no: str, *, requested="rating", slots=None):
    """A rating button press: Rasa's slot mapping has already set rating_case_no."""
    return make_tracker(f'/rate_{rating}{json.dumps({"case_no": case_no})}', f"rate_{rating}",
                        entities=ents(case_no=case_no), form="rating_form",
                        requested=requested, sender_id=SENDER,
                        slots={"rating_case_no": case_no, **(slots or {})})


async def test_the_question_says_what_was_done_and_its_buttons_carry_the_case(
        two_resolved, dispatcher):
    _, newer = two_resolved
    tracker = make_tracker(f'/start_rating{{"case_no": "{newer}"}}', "start_rating",
                           form="rating_form", requested="rating", sender_id=SENDER,
                           slots={"rating_case_no": newer})
    await ActionAskRating().run(dispatcher, tracker, DOMAIN)
    question = dispatcher.messages[0]
    assert "单元门口电动车乱停" in question["text"] and "已办结" in question["text"]
    assert "处理结果：已劝离挪走（王网格）" in question["text"]
    assert "附现场照片 1 张" in question["text"]
    assert [b["title"] for b in question["buttons"]] == ["满意", "基本满意", "不满意"]
    for button in question["buttons"]:
        assert json.loads(button["payload"][button["payload"].index("{"):]) == {"case_no": newer}
    assert [m.get("image") for m in dispatcher.messages[1:]] == ["var/photos/after.jpg"]


async def test_the_older_prompts_button_rates_the_older_case(two_resolved, dispatcher):
    older, newer = two_resolved
    # the newer case's question is open; the resident presses 满意 under the older prompt
    form = ValidateRatingForm()
    slots = slot_events(await form.run(dispatcher, press("satisfied", older), DOMAIN))
    assert slots["rating"] == "satisfied" and slots["rating_case_no"] == older
    done = make_tracker("跳过", "skip", sender_id=SENDER, slots={
        "rating_case_no": older, "rating": "satisfied", "rating_comment": "-"})
    events = await ActionSubmitRating().run(dispatcher, done, DOMAIN)
    assert slot_events(events)["rating_case_no"] is None
    assert older in texts(dispatcher) and "满意" in texts(dispatcher)
    views = views_of(two_resolved)
    assert views[older].state == "closed" and views[older].rating.value == "satisfied"
    assert views[newer].state == "resolved" and views[newer].rating is None


async def test_a_press_on_a_case_already_rated_gets_a_clear_answer_and_ends_the_form(
        two_resolved, dispatcher):
    older, _ = two_resolved
    from actions import common
    from minsheng.enums import FeedbackRoute, Rating

    with common.unit_of_work() as uow:
        cases.rate(uow, older, Rating.basically_satisfied, FeedbackRoute.online, resident=ME)
        uow.commit()
    slots = slot_events(await ValidateRatingForm().run(dispatcher, press("dissatisfied", older),
                                                       DOMAIN))
    assert f"工单 {older} 已经评价过了（基本满意）" in texts(dispatcher)
    assert slots["requested_slot"] is None and slots["rating"] is None
    assert slots["rating_case_no"] is None
    # nothing is recorded when the form ends this way
    dispatcher.messages.clear()
    await ActionSubmitRating().run(dispatcher, make_tracker("", "rate_dissatisfied",
                                                            sender_id=SENDER), DOMAIN)
    assert dispatcher.messages == []
    assert views_of([older])[older].rating.value == "basically_satisfied"


async def test_a_press_on_someone_elses_case_is_refused(two_resolved, dispatcher):
    older, _ = two_resolved
    tracker = press("satisfied", older)
    tracker.sender_id = "telegram:999"
    slots = slot_events(await ValidateRatingForm().run(dispatcher, tracker, DOMAIN))
    assert "不是您反映的" in texts(dispatcher) and slots["requested_slot"] is None


async def test_a_report_typed_at_the_rating_question_is_let_go(two_resolved, dispatcher):
    _, newer = two_resolved
    report = make_tracker("幸福里小区5号楼门口的垃圾好几天没人清了", "report_sanitation",
                          form="rating_form", requested="rating", sender_id=SENDER,
                          slots={"rating_case_no": newer})
    events = await ValidateRatingForm().run(dispatcher, report, DOMAIN)
    # no slot extracted: Rasa rejects the form and the report rules take the message
    assert "rating" not in slot_events(events)
    assert dispatcher.messages == []


async def test_an_unsure_message_that_looks_like_a_report_is_let_go_too(
        two_resolved, dispatcher):
    _, newer = two_resolved
    unsure = make_tracker("门口那堆东西好几天了", "nlu_fallback", 0.6, sender_id=SENDER,
                          intent_ranking=ranking(("nlu_fallback", 0.6), ("report_clutter", 0.4),
                                                 ("report_sanitation", 0.3)),
                          form="rating_form", requested="rating",
                          slots={"rating_case_no": newer})
    events = await ValidateRatingForm().run(dispatcher, unsure, DOMAIN)
    assert "rating" not in slot_events(events)


@pytest.mark.parametrize("text, intent, expected", [
    ("不满意，楼道还是很脏", "report_sanitation", "dissatisfied"),  # answers, then says why
    ("基本满意吧", "rate_basically_satisfied", "basically_satisfied"),
    ("还行", "affirm", None),  # not understood: asked again, not let go
])
async def test_typed_answers_to_the_rating_question(two_resolved, dispatcher, text, intent,
                                                    expected):
    _, newer = two_resolved
    typed = make_tracker(text, intent, form="rating_form", requested="rating",
                         sender_id=SENDER, slots={"rating_case_no": newer})
    slots = slot_events(await ValidateRatingForm().run(dispatcher, typed, DOMAIN))
    assert slots["rating"] == expected
    if expected is None:
        assert "请点「满意」" in texts(dispatcher) or dispatcher.messages


async def test_a_rating_button_at_the_comment_step_is_no_comment(two_resolved, dispatcher):
    older, _ = two_resolved
    tracker = press("basically_satisfied", older, requested="rating_comment",
                    slots={"rating": "satisfied"})
    slots = slot_events(await ValidateRatingForm().run(dispatcher, tracker, DOMAIN))
    assert slots["rating"] == "basically_satisfied" and slots["rating_case_no"] == older
    assert "rating_comment" not in slots or slots["rating_comment"] is None


async def test_a_typed_rating_without_a_button_finds_the_only_case_waiting(grid, worker,
                                                                          dispatcher):
    only = open_and_resolve(grid, worker, "k9", "楼道堆满纸箱", "已清走")
    typed = make_tracker("满意", "rate_satisfied", sender_id=SENDER, form="rating_form",
                         requested="rating")
    slots = slot_events(await ValidateRatingForm().run(dispatcher, typed, DOMAIN))
    assert slots["rating"] == "satisfied" and slots["rating_case_no"] == only


async def test_a_typed_rating_with_several_cases_waiting_asks_for_the_button(
        two_resolved, dispatcher):
    typed = make_tracker("满意", "rate_satisfied", sender_id=SENDER, form="rating_form",
                         requested="rating")
    slots = slot_events(await ValidateRatingForm().run(dispatcher, typed, DOMAIN))
    assert slots["requested_slot"] is None and "几个工单" in texts(dispatcher)


async def test_another_case_resolved_at_the_comment_step_starts_its_own_question(
        two_resolved, dispatcher):
    _, newer = two_resolved
    # 满意 was chosen for the older case; before the comment, the newer one is resolved
    started = make_tracker(f'/start_rating{{"case_no": "{newer}"}}', "start_rating",
                           entities=ents(case_no=newer), form="rating_form",
                           requested="rating_comment", sender_id=SENDER,
                           slots={"rating_case_no": newer, "rating": "satisfied"})
    slots = slot_events(await ValidateRatingForm().run(dispatcher, started, DOMAIN))
    # the older case's choice is not carried over to the newer case: it is asked afresh
    assert slots["rating"] is None and slots["rating_comment"] is None
    assert dispatcher.messages == []


@pytest.mark.parametrize("sender", ["telegram:4242", "wechat:oW42", "web:resident-7"])
async def test_the_photos_follow_the_question_on_every_channel(two_resolved, dispatcher, sender):
    _, newer = two_resolved
    tracker = make_tracker(f'/start_rating{{"case_no": "{newer}"}}', "start_rating",
                           form="rating_form", requested="rating", sender_id=sender,
                           slots={"rating_case_no": newer})
    await ActionAskRating().run(dispatcher, tracker, DOMAIN)
    assert "附现场照片 1 张" in dispatcher.messages[0]["text"]
    assert [m.get("image") for m in dispatcher.messages[1:]] == ["var/photos/after.jpg"]
