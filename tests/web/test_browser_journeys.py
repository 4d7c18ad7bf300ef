"""In headless Chromium: a resident reports in the web chat, a grid worker handles the case
to resolution, the callback is recorded, and the dashboard counts it as ``stats.report``
and ``minsheng report`` do. Screenshots: tests/artefacts/web/."""
import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from PIL import Image
from selenium.webdriver.support.ui import Select

from minsheng.clock import to_local, utcnow
from minsheng.enums import Category, Channel
from minsheng.places import parse_place
from minsheng.services import cases, stats
from tests.web.conftest import PASSWORD
from tests.web.fake_rasa import KEYWORDS

pytestmark = pytest.mark.browser


def action_server(db):
    """What the action server does on 确认: open the case through the case services."""

    def confirm(sender: str, text: str, photos: list[str]) -> str:
        category = next((c for word, c in KEYWORDS.items() if word in text), "clutter")
        with db.uow() as uow:
            result = cases.open_case(uow, cases.NewCase(
                channel=Channel.web, idempotency_key=f"{sender}:{text}", description=text,
                category=Category(category), place=parse_place(text), photos=photos,
                resident=cases.ResidentRef(Channel.web, sender.split(":", 1)[1])))
            uow.commit()
            return result.case_no

    return confirm


def test_a_web_chat_report_is_handled_to_resolution_and_counted(browser, rasa, db, tmp_path,
                                                                settings):
    rasa.on_confirm = action_server(db)
    # 1. the resident reports, with a photo, and confirms
    browser.open("/chat")
    browser.find("#chat-text").send_keys("幸福小区3号楼楼道堆满杂物，过不去")
    browser.find("#chat-send").click()
    browser.wait_text("#chat", "确认提交吗？")
    photo = tmp_path / "corridor.jpg"
    Image.new("RGB", (32, 24), (90, 90, 90)).save(photo, "JPEG")
    browser.find("#chat-photo").send_keys(str(photo))
    browser.find("#photo-send").click()
    browser.wait_text("#chat", "照片已收到。")
    browser.find("#chat button.choice").click()
    browser.wait_text("#chat", "已受理，工单号 MS-")
    browser.screenshot("chat-report")
    case_no = browser.find("#chat").text.split("工单号 ")[1].split("，")[0]

    # 2. the grid worker finds it on the desk, acknowledges and resolves it
    browser.login("grid1", PASSWORD)
    browser.wait_for("#case-list")
    assert case_no in browser.find("#case-list").text
    browser.find(f"a[href='/cases/{case_no}']").click()
    browser.wait_for("#timeline")
    assert len(browser.finds(".photos img")) == 1
    browser.screenshot("case-assigned")
    browser.find("#do-acknowledge").click()
    browser.wait_text("#case-state", "已签收")
    browser.find("#form-resolve textarea").send_keys("已通知物业清走杂物，楼道已畅通")
    Select(browser.find("#handling-method")).select_by_value("grid")  # 网格处置
    browser.find("#form-resolve input[type=file]").send_keys(str(photo))  # 乱堆乱放: required
    browser.find("#do-resolve").click()
    browser.wait_text("#case-state", "已办结")
    assert not browser.finds("#do-callback")  # the handler does not record their own 回访
    browser.screenshot("case-resolved")

    # 3. the community desk calls the resident back and records the rating
    browser.open("/")
    browser.driver.delete_all_cookies()
    browser.login("community", PASSWORD)
    browser.open(f"/cases/{case_no}")
    browser.wait_for("#timeline")
    Select(browser.find("#callback-rating")).select_by_value("satisfied")
    browser.find("#do-callback").click()
    browser.wait_text("#case-state", "已关闭")
    assert "满意（线下回访）" in browser.find("#case-rating").text
    browser.screenshot("case-closed")

    # 4. the street office sees it counted, exactly as the report counts it
    browser.open("/")
    browser.driver.delete_all_cookies()
    browser.login("street", PASSWORD)
    today = to_local(utcnow(), settings.timezone).date()
    browser.open(f"/dashboard?from={today - timedelta(days=6)}&to={today}")
    browser.wait_for("#overall")
    browser.screenshot("dashboard")
    with db.uow() as uow:
        rep = stats.report(uow, today - timedelta(days=6), today)
    assert (rep.overall.accepted, rep.overall.resolved) == (1, 1)
    assert browser.find("#m-accepted").text == "1"
    assert browser.find("#m-resolved").text == "1"
    assert browser.find("#m-closure").text == stats.pct(rep.overall.closure_rate) == "100.0%"
    assert browser.find("#m-satisfaction").text == stats.pct(rep.overall.satisfaction)
    assert browser.find("#m-ontime").text == stats.pct(rep.overall.on_time_rate)
    cli = subprocess.run(
        [sys.executable, "-m", "minsheng.cli", "report", "--from", str(today - timedelta(days=6)),
         "--to", str(today), "--json"],
        capture_output=True, text=True, env={**os.environ, "MINSHENG_DATABASE_URL": db.url},
        timeout=120, check=False)
    assert cli.returncode == 0, cli.stderr
    printed = json.loads(cli.stdout)
    assert printed["overall"]["accepted"] == int(browser.find("#m-accepted").text)
    assert stats.pct(printed["overall"]["satisfaction"]) == browser.find("#m-satisfaction").text


def test_a_grid_worker_typing_another_grids_case_url_sees_not_found(browser, db):
    from tests.web.conftest import open_case

    theirs = open_case(db, "路灯不亮", "阳光花园", category="livelihood")
    browser.login("grid1", PASSWORD)
    browser.open(f"/cases/{theirs}")
    browser.wait_text("main", "找不到该工单，或您无权查看")
    assert "路灯不亮" not in browser.find("main").text
    browser.screenshot("other-grid-404")


def test_after_a_choice_pressed_by_keyboard_the_focus_goes_on_to_the_text_box(browser, rasa):
    from selenium.webdriver.common.keys import Keys

    browser.open("/chat")
    browser.find("#chat-text").send_keys("幸福小区门口的垃圾三天没人清")
    browser.find("#chat-send").click()
    browser.wait_text("#chat", "确认提交吗？")
    cancel = next(b for b in browser.finds("#chat button.choice") if b.text == "取消")
    cancel.send_keys(Keys.ENTER)  # as a keyboard user presses it; the row is then disabled
    browser.wait_text("#chat", "好的，已取消。")
    focused = browser.driver.execute_script("return document.activeElement.id")
    assert focused == "chat-text"  # not the page's top, where a disabled button leaves it
