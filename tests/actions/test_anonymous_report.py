"""「匿名提交」 on the report summary: offered for 治安稳定 and 矛盾纠纷 only, refused from an
old button once the category changed, and the case opened anonymous with a clear reply."""
from __future__ import annotations

from sqlalchemy import select

from actions.report import ActionAskConfirm, ActionOpenCase
from actions.report_form import ValidateReportForm
from minsheng.models import Case
from tests.actions.factories import DOMAIN, ents, make_tracker, slot_events, texts

ANONYMOUS = '/affirm{"field": "anonymous"}'
REPORT = {"description": "幸福里小区3号楼楼下有人聚众赌博", "description_key": "update_id:9",
          "category": "public_order", "place": "幸福里小区3号楼", "xiaoqu": "幸福里小区",
          "building": "3号楼", "photos": [], "photos_done": True, "phone": "13812345678"}


async def test_the_summary_offers_anonymous_only_for_public_order_and_dispute(dispatcher):
    for category, offered in (("public_order", True), ("dispute", True), ("clutter", False)):
        dispatcher.messages.clear()
        tracker = make_tracker("", slots={**REPORT, "category": category},
                               form="report_form", requested="confirm")
        await ActionAskConfirm().run(dispatcher, tracker, DOMAIN)
        buttons = {b["title"]: b["payload"] for b in dispatcher.messages[0]["buttons"]}
        assert ("匿名提交" in buttons) is offered, category
        assert buttons["确认提交"] == "/affirm"
        if offered:
            assert buttons["匿名提交"] == ANONYMOUS


async def test_an_old_anonymous_button_after_a_category_change_is_refused(database, dispatcher):
    tracker = make_tracker(ANONYMOUS, "affirm", entities=ents(field="anonymous"),
                           slots={**REPORT, "category": "clutter"}, form="report_form",
                           requested="confirm")
    events = await ValidateReportForm().run(dispatcher, tracker, DOMAIN)
    assert slot_events(events)["confirm"] is None
    assert "只有「治安稳定」和「矛盾纠纷」" in texts(dispatcher)


async def test_pressing_anonymous_confirms_the_report(database, dispatcher):
    tracker = make_tracker(ANONYMOUS, "affirm", entities=ents(field="anonymous"),
                           slots=REPORT, form="report_form", requested="confirm")
    events = await ValidateReportForm().run(dispatcher, tracker, DOMAIN)
    assert slot_events(events)["confirm"] is True and dispatcher.messages == []


async def test_an_anonymous_press_opens_an_anonymous_case_and_says_so(grid, dispatcher):
    tracker = make_tracker(ANONYMOUS, "affirm", entities=ents(field="anonymous"),
                           slots={**REPORT, "confirm": True})
    await ActionOpenCase().run(dispatcher, tracker, DOMAIN)
    reply = texts(dispatcher)
    assert "已受理" in reply and "工作人员看不到您的姓名和电话，办理进展仍会告诉您" in reply
    with grid.uow() as uow:
        case = uow.session.execute(select(Case)).scalar_one()
        assert case.anonymous and case.resident_id is not None


async def test_a_plain_confirm_opens_a_named_case(grid, dispatcher):
    tracker = make_tracker("/affirm", "affirm", slots={**REPORT, "confirm": True})
    await ActionOpenCase().run(dispatcher, tracker, DOMAIN)
    assert "匿名" not in texts(dispatcher)
    with grid.uow() as uow:
        assert not uow.session.execute(select(Case)).scalar_one().anonymous
