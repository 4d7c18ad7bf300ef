"""In headless Chromium at 390 px (a phone) and 1366 px (a desktop): every console page
passes axe-core with no serious or critical violation and never scrolls sideways on a
phone; the desk is cards on a phone and a table on a desktop; controls are big enough to
tap; the case page keeps 办结 in front and moves the focus to the result of an action.
Screenshots at 390 px: tests/artefacts/web/test_every_page_*-390-*.png."""
from datetime import timedelta

import pytest
from sqlalchemy import update

from minsheng.clock import utcnow
from minsheng.models import Case
from nlu import registry
from tests.web.browser import axe_violations, page_width, set_width
from tests.web.conftest import PASSWORD, open_case

pytestmark = pytest.mark.browser

PHONE, DESKTOP = 390, 1366
ADMIN_TABS = ("grids", "staff", "rules", "limits", "departments", "import")


@pytest.fixture
def cases_seen(db, settings):
    """Two cases in grid 1 (one overdue), one in grid 2, and a promoted, scored model."""
    late = open_case(db, "楼道里堆满了纸箱和旧家具，消防通道过不去", "幸福小区", building="3号楼")
    fresh = open_case(db, "小区东门垃圾桶满了没人清", "幸福小区", category="sanitation")
    other = open_case(db, "路灯不亮", "阳光花园", category="livelihood", channel="web")
    with db.uow() as uow:
        uow.session.execute(update(Case).where(Case.case_no == late).values(
            resolve_deadline=utcnow() - timedelta(hours=3)))
        uow.commit()
    models = settings.models_dir
    models.mkdir(parents=True, exist_ok=True)
    (models / "minsheng-a.tar.gz").write_bytes(b"x")
    registry.record_training(models, "minsheng-a.tar.gz", 61.5)
    registry.record_scores(models, "minsheng-a.tar.gz", {
        "own_messages": {"macro_f1": 0.8, "accuracy": 0.82, "n": 120}})
    registry.promote(models, "minsheng-a.tar.gz")
    return late, fresh, other


def pages_of(case_no: str) -> dict[str, list[str]]:
    """Every page, by the login that sees it (None: the public pages)."""
    return {
        None: ["/", "/login", "/chat"],
        "grid1": ["/cases", f"/cases/{case_no}", "/cases/new"],
        "community": [f"/cases/{case_no}"],
        "admin": ["/cases", f"/cases/{case_no}", "/cases/new", "/nlu", "/dashboard", "/hotspots"]
        + [f"/admin?section={tab}" for tab in ADMIN_TABS],
    }


def switch_login(browser, username: str | None) -> None:
    browser.open("/")
    browser.driver.delete_all_cookies()
    if username:
        browser.login(username, PASSWORD)


def shot_name(username: str | None, path: str) -> str:
    slug = path.strip("/").replace("/", "-").replace("?section=", "-") or "home"
    return f"{username or 'public'}-{slug}"


def test_every_page_passes_axe_and_fits_a_phone(browser, cases_seen):
    late, _, _ = cases_seen
    problems: dict[str, object] = {}
    checked = 0
    for username, paths in pages_of(late).items():
        switch_login(browser, username)
        for path in paths:
            for width in (PHONE, DESKTOP):
                set_width(browser, width)
                browser.open(path)
                browser.wait_for("main")
                assert browser.driver.execute_script("return window.innerWidth") == width
                found = axe_violations(browser)
                if found:
                    problems[f"{username} {path} @{width}"] = found
                if width == PHONE:
                    if page_width(browser) > PHONE:
                        problems[f"{username} {path} scrolls sideways"] = page_width(browser)
                    browser.screenshot(f"{shot_name(username, path)}-390")
                checked += 1
    assert checked == 2 * sum(len(p) for p in pages_of(late).values())
    assert problems == {}, problems


TAP_TARGETS = """
return Array.from(document.querySelectorAll(
    'main button, main select, main input:not([type=hidden]):not([type=checkbox]),'
    + ' main .tabs a, header.top nav a, label.check, main summary'))
  .filter(function (e) { return e.offsetParent !== null; })
  .map(function (e) { var r = e.getBoundingClientRect();
                      return [e.id || e.name || e.textContent.trim().slice(0, 12),
                              Math.round(r.height), Math.round(r.width)]; })
  .filter(function (t) { return t[1] < 44; });
"""


def test_controls_are_at_least_44_px_high_on_a_phone(browser, cases_seen):
    late, _, _ = cases_seen
    small = {}
    for username, paths in (("grid1", ["/cases", f"/cases/{late}", "/cases/new"]),
                            ("admin", ["/admin?section=limits", "/admin?section=staff",
                                       "/nlu"]),
                            (None, ["/chat", "/login"])):
        switch_login(browser, username)
        set_width(browser, PHONE)
        for path in paths:
            browser.open(path)
            browser.wait_for("main")
            found = browser.driver.execute_script(TAP_TARGETS)
            if found:
                small[path] = found
    assert small == {}


def test_the_desk_is_cards_on_a_phone_and_a_one_line_table_on_a_desktop(browser, cases_seen):
    late, fresh, other = cases_seen
    switch_login(browser, "grid1")
    set_width(browser, PHONE)
    browser.open("/cases")
    browser.wait_for("#case-list")
    assert browser.find("#tab-todo").get_attribute("aria-current") == "page"
    rows = browser.finds("#case-list tbody tr")
    assert [r.find_element("css selector", "td.case-no a").text for r in rows] == [late, fresh]
    assert {r.value_of_css_property("display") for r in rows} == {"block"}
    assert not browser.find("#grid-filter").is_displayed()  # folded: the cases come first
    browser.screenshot("desk-cards-390")
    set_width(browser, DESKTOP)
    browser.open("/cases")
    browser.wait_for("#case-list")
    rows = browser.finds("#case-list tbody tr")
    assert {r.value_of_css_property("display") for r in rows} == {"table-row"}
    assert browser.find("#grid-filter").is_displayed()  # the filters open on a desktop
    wrapped = browser.driver.execute_script(
        "return Array.from(document.querySelectorAll('#case-list .badge, #case-list td.case-no a'))"
        ".filter(function (e) { return e.getClientRects().length !== 1"
        " || e.getBoundingClientRect().height > 2 * parseFloat(getComputedStyle(e).fontSize); })"
        ".map(function (e) { return e.textContent; });")
    assert wrapped == []
    browser.screenshot("desk-table-1366")
    assert other not in browser.find("main").text  # another grid's case stays out


def test_the_case_page_leads_with_the_next_step_and_focuses_the_result(browser, cases_seen):
    late, _, _ = cases_seen
    switch_login(browser, "grid1")
    set_width(browser, PHONE)
    browser.open(f"/cases/{late}")
    browser.wait_for("#timeline")
    assert browser.find("#do-acknowledge").is_displayed()
    assert not browser.find("#do-return").is_displayed()  # folded under 更多操作
    browser.find("#do-acknowledge").click()
    browser.wait_text("#case-state", "已签收")
    focused = browser.driver.execute_script("return document.activeElement.id")
    assert focused == "flash-ok" and browser.find("#flash-ok").get_attribute("role") == "status"
    assert browser.find("#do-resolve").is_displayed()  # now 办结 is in front
    assert not browser.find("#do-escalate").is_displayed()
    browser.find("#more-actions summary").click()
    assert browser.find("#do-escalate").is_displayed()
    browser.screenshot("case-more-actions-390")


def test_the_chat_composer_holds_its_upload_button_on_a_phone(browser):
    set_width(browser, PHONE)
    browser.open("/chat")
    browser.wait_for("#photo-send")
    overflow = browser.driver.execute_script(
        "var box = document.querySelector('.composer').getBoundingClientRect();"
        "return ['#photo-send', '#chat-photo', '#chat-locate', '#chat-send']"
        ".filter(function (s) { var r = document.querySelector(s).getBoundingClientRect();"
        " return r.right > box.right + 0.5 || r.left < box.left - 0.5; });")
    assert overflow == []
    label = browser.driver.execute_script(
        "return document.querySelector('label[for=chat-text]').textContent")
    assert label.strip()
    browser.screenshot("chat-composer-390")
