"""In headless Chromium: a notice queued on the server appears on an open chat page without a
reload (pushed by Server-Sent Events), and a reload redraws the whole conversation."""
import time

import pytest
from sqlalchemy import select

from minsheng.enums import Channel
from minsheng.models import ResidentIdentity
from minsheng.services import outbox

pytestmark = [pytest.mark.browser, pytest.mark.slow]
NOTICE = "您的工单已由王网格员签收，预计今天下午处理。"


def test_a_notice_queued_on_the_server_appears_on_the_open_page_without_a_reload(
        browser, rasa, db):
    browser.open("/chat")
    browser.find("#chat-text").send_keys("幸福小区3号楼楼道堆满杂物")
    browser.find("#chat-send").click()
    browser.wait_text("#chat", "确认提交吗？")
    external_id = rasa.received[-1]["sender"].split(":", 1)[1]
    with db.uow() as uow:
        resident_id = uow.session.execute(select(ResidentIdentity.resident_id).where(
            ResidentIdentity.channel == Channel.web,
            ResidentIdentity.external_id == external_id)).scalar_one()
        outbox.enqueue(uow, Channel.web, f"resident:{resident_id}", "case_progress", NOTICE,
                       payload={"buttons": [{"title": "查看进度", "payload": "/check_status"}]})
        uow.commit()
    queued = time.monotonic()
    browser.wait_text("#chat", NOTICE, timeout=10)
    assert time.monotonic() - queued < 3.0  # pushed within a second or two
    fetched = browser.driver.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
    assert not [url for url in fetched if "/chat/messages" in url]  # pushed, not polled
    browser.screenshot("notice-live")
    browser.driver.refresh()
    browser.wait_text("#chat", NOTICE)
    lines = [p.text for p in browser.finds("#chat .msg")]
    assert lines == ["幸福小区3号楼楼道堆满杂物", "您反映的是：幸福小区3号楼楼道堆满杂物",
                     "确认提交吗？", NOTICE]
    [check] = [b for b in browser.finds("#chat button.choice") if b.text == "查看进度"]
    assert check.is_enabled()  # the notice's button is on offer after the reload
    check.click()
    browser.wait_text("#chat", "您反映的是：/check_status")
    browser.screenshot("redrawn")
