"""Actions against the real case services on a migrated SQLite database."""
from __future__ import annotations

from sqlalchemy import func, select

from actions.emergency import ActionEmergency
from actions.handoff import ActionHandoff
from actions.rating import ActionSubmitRating, ValidateRatingForm
from actions.report import ActionOpenCase
from actions.status import (
    ActionAddInfo,
    ActionShowCases,
    ActionWithdrawCase,
    ValidateAddInfoForm,
    ValidateWithdrawForm,
)
from minsheng.enums import CaseState
from minsheng.models import Case, CaseEvent, Staff
from minsheng.services import cases
from tests.actions.factories import DOMAIN, ents, make_tracker, responses, slot_events, texts

REPORT = {"description": "幸福里小区3号楼楼道有人飞线充电", "description_key": "update_id:7",
          "category": "safety_hazard", "place": "幸福里小区3号楼", "xiaoqu": "幸福里小区",
          "building": "3号楼", "photos": ["var/photos/a.jpg"], "photos_done": True,
          "phone": "13812345678", "confirm": True}


def count_cases(db) -> int:
    with db.uow() as uow:
        return uow.session.execute(select(func.count()).select_from(Case)).scalar_one()


async def open_report(dispatcher, sender="telegram:4242", key="update_id:7"):
    tracker = make_tracker("/affirm", "affirm", sender_id=sender,
                           slots={**REPORT, "description_key": key})
    return await ActionOpenCase().run(dispatcher, tracker, DOMAIN)


async def test_a_confirmed_report_opens_a_case_and_tells_number_grid_worker_and_limit(
    grid, dispatcher
):
    events = await open_report(dispatcher)
    reply = texts(dispatcher)
    with grid.uow() as uow:
        case = uow.session.execute(select(Case)).scalar_one()
        assert (case.category.value, case.building, case.phone) == (
            "safety_hazard", "3号楼", "13812345678")
        assert [p.path for p in case.photos] == ["var/photos/a.jpg"]
        case_no = case.case_no
    assert case_no in reply and "安全隐患" in reply and "幸福里第一网格" in reply
    assert "王网格" in reply and "办理时限" in reply
    slots = slot_events(events)
    assert slots["description"] is None and slots["confirm"] is None
    assert slots["last_case_no"] == case_no


async def test_a_retried_open_case_action_makes_no_second_case(grid, dispatcher):
    await open_report(dispatcher)
    await open_report(dispatcher)
    assert count_cases(grid) == 1


async def test_the_same_problem_from_a_neighbour_is_attached_to_the_open_case(grid, dispatcher):
    await open_report(dispatcher)
    first = slot_events(await open_report(dispatcher))["last_case_no"]
    dispatcher.messages.clear()
    events = await open_report(dispatcher, sender="telegram:5555", key="update_id:99")
    assert responses(dispatcher) == ["utter_case_merged"]
    assert dispatcher.messages[0]["case_no"] == first
    assert slot_events(events)["last_case_no"] == first
    assert count_cases(grid) == 1


async def test_no_at_the_summary_opens_nothing(grid, dispatcher):
    tracker = make_tracker("/deny", "deny", slots={**REPORT, "confirm": False})
    await ActionOpenCase().run(dispatcher, tracker, DOMAIN)
    assert responses(dispatcher) == ["utter_report_discarded"]
    assert count_cases(grid) == 0


async def test_an_emergency_says_call_119_first_then_opens_an_urgent_case(grid, dispatcher):
    tracker = make_tracker("幸福里小区3号楼着火了！", "emergency",
                           entities=ents(xiaoqu="幸福里小区", building="3号楼"))
    events = await ActionEmergency().run(dispatcher, tracker, DOMAIN)
    assert "119" in dispatcher.messages[0]["text"]
    with grid.uow() as uow:
        case = uow.session.execute(select(Case)).scalar_one()
        assert case.urgent and case.category.value == "safety_hazard"
        assert case.building == "3号楼"
        case_no = case.case_no
    assert case_no in dispatcher.messages[1]["text"]
    assert any(e["event"] == "active_loop" and e["name"] is None for e in events)


async def test_status_with_no_cases_says_so(grid, dispatcher):
    await ActionShowCases().run(dispatcher, make_tracker("我的工单", "check_status"), DOMAIN)
    assert responses(dispatcher) == ["utter_no_cases"]


async def test_status_lists_state_and_last_event_with_add_and_withdraw_buttons(grid, dispatcher):
    case_no = slot_events(await open_report(dispatcher))["last_case_no"]
    dispatcher.messages.clear()
    await ActionShowCases().run(dispatcher, make_tracker("进度", "check_status"), DOMAIN)
    message = dispatcher.messages[0]
    assert case_no in message["text"] and "已派单" in message["text"] and "最新" in message["text"]
    assert [b["payload"] for b in message["buttons"]] == [
        f'/add_info{{"case_no": "{case_no}"}}', f'/withdraw{{"case_no": "{case_no}"}}']


async def test_a_photo_added_to_an_open_case_reaches_it(grid, dispatcher):
    case_no = slot_events(await open_report(dispatcher))["last_case_no"]
    form = ValidateAddInfoForm()
    start = make_tracker(f'/add_info{{"case_no": "{case_no}"}}', "add_info",
                         entities=ents(case_no=case_no))
    assert slot_events(await form.run(dispatcher, start, DOMAIN))["case_no"] == case_no
    photo = make_tracker('/send_photo{"photo": "var/photos/b.jpg"}', "send_photo",
                         entities=ents(photo="var/photos/b.jpg"), form="add_info_form",
                         requested="info_text", slots={"case_no": case_no})
    slots = slot_events(await form.run(dispatcher, photo, DOMAIN))
    done = make_tracker("", "send_photo", slots={"case_no": case_no, **slots})
    dispatcher.messages.clear()
    await ActionAddInfo().run(dispatcher, done, DOMAIN)
    assert responses(dispatcher) == ["utter_info_added"]
    with grid.uow() as uow:
        view = cases.get_case(uow, case_no)
        assert "var/photos/b.jpg" in [p.path for p in view.photos]
        assert view.events[-1].action == "add_info"


async def test_withdrawing_from_the_button_after_confirming(grid, dispatcher):
    case_no = slot_events(await open_report(dispatcher))["last_case_no"]
    pick = make_tracker(f'/withdraw{{"case_no": "{case_no}"}}', "withdraw",
                        entities=ents(case_no=case_no), form="withdraw_form", requested="case_no")
    assert slot_events(await ValidateWithdrawForm().run(dispatcher, pick, DOMAIN)) == {
        "case_no": case_no}
    dispatcher.messages.clear()
    confirmed = make_tracker("/affirm", "affirm",
                             slots={"case_no": case_no, "withdraw_confirm": True})
    await ActionWithdrawCase().run(dispatcher, confirmed, DOMAIN)
    assert responses(dispatcher) == ["utter_case_withdrawn"]
    with grid.uow() as uow:
        assert cases.get_case(uow, case_no).state == CaseState.withdrawn.value


async def test_withdraw_with_no_open_case_ends_the_form_with_a_message(grid, dispatcher):
    start = make_tracker("撤回", "withdraw")
    slots = slot_events(await ValidateWithdrawForm().run(dispatcher, start, DOMAIN))
    assert slots["requested_slot"] is None and slots["case_no"] is None
    assert responses(dispatcher) == ["utter_no_open_cases"]


async def test_dissatisfied_rating_reopens_the_case_one_level_up_and_says_so(grid, dispatcher):
    case_no = slot_events(await open_report(dispatcher))["last_case_no"]
    with grid.uow() as uow:
        worker = uow.session.execute(select(Staff).where(Staff.public_name == "王网格")).scalar_one()
        cases.acknowledge(uow, case_no, worker.id)
        cases.resolve(uow, case_no, worker.id, "已拆除飞线")
    form = ValidateRatingForm()
    asked = make_tracker("/rate_dissatisfied", "rate_dissatisfied", form="rating_form",
                         requested="rating", slots={"rating_case_no": case_no})
    assert slot_events(await form.run(dispatcher, asked, DOMAIN))["rating"] == "dissatisfied"
    dispatcher.messages.clear()
    done = make_tracker("根本没人来", "out_of_scope", slots={
        "rating_case_no": case_no, "rating": "dissatisfied", "rating_comment": "根本没人来"})
    await ActionSubmitRating().run(dispatcher, done, DOMAIN)
    assert "重新派单" in texts(dispatcher) and "李网格长" in texts(dispatcher)
    with grid.uow() as uow:
        view = cases.get_case(uow, case_no)
        assert view.level == "grid_leader" and view.state != CaseState.closed.value
        assert view.rating.value == "dissatisfied"
        assert uow.session.execute(select(CaseEvent).where(CaseEvent.action == "rate")).first()


async def test_handoff_gives_the_workers_public_name_and_duty_phone(grid, dispatcher):
    await open_report(dispatcher)
    dispatcher.messages.clear()
    await ActionHandoff().run(dispatcher, make_tracker("转人工", "human_handoff"), DOMAIN)
    assert "王网格" in texts(dispatcher) and "0311-8000001" in texts(dispatcher)


async def test_handoff_without_a_case_gives_the_community_desk(grid, dispatcher):
    await ActionHandoff().run(dispatcher, make_tracker("找人", "human_handoff"), DOMAIN)
    assert "0311-8000000" in texts(dispatcher)
