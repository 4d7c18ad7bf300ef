"""The hot-spot list drawn by hotspots.js in headless Chromium, on a phone-wide window: the
cards, their links to the case desk and the cases, and no sideways scrolling."""
from __future__ import annotations

import pytest

from tests.web.conftest import PASSWORD, open_case

pytestmark = pytest.mark.browser


def test_the_hot_spot_list_shows_each_group_with_links_and_fits_a_phone(browser, db, world):
    numbers = [open_case(db, text, "阳光花园", category="livelihood")
               for text in ("阳光花园路灯坏了一排，晚上很黑", "小区好几盏路灯不亮了，看不见路",
                            "路灯一直不亮，老人摔了一跤")]
    browser.login("community", PASSWORD)
    browser.driver.set_window_size(390, 844)
    browser.open("/hotspots")
    browser.wait_text("#hotspots-status", "共 1 个热点问题")
    card = browser.find("#hotspots-list li")
    assert "3 次" in card.text and "阳光花园" in card.text and "新出现" in card.text
    links = {a.text: a.get_attribute("href") for a in browser.finds("#hotspots-list li a")}
    assert links["在工单台查看"].endswith("/cases?category=livelihood&grid=13010102")
    assert sorted(n for n in links if n.startswith("MS-")) == sorted(numbers)
    width = browser.driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390
    browser.screenshot("hotspots-390")
    browser.find("#hotspots-list li a").click()
    browser.wait_for("body")
    assert "/cases?category=livelihood" in browser.driver.current_url
