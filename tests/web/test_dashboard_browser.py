"""In headless Chromium at 390 px (a phone) and 1366 px (a desktop): the dashboard's ECharts
figures draw on their canvases, the page never scrolls sideways, and clicking a bar of a
chart opens the case desk filtered the same way. Screenshots: tests/artefacts/web/."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.support.ui import WebDriverWait

from tests.web.conftest import PASSWORD
from tests.web.test_dashboard import history  # noqa: F401 - the same cases as the page tests

pytestmark = pytest.mark.browser
CHARTS = ("chart-trend", "chart-category", "chart-channel", "chart-handling", "chart-map")
# Pixels on a chart's canvas that are neither transparent nor white.
INKED = """
const canvas = document.querySelector('#' + arguments[0] + ' canvas');
if (!canvas) { return -1; }
const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
let inked = 0;
for (let i = 0; i < data.length; i += 4) {
  if (data[i + 3] > 0 && (data[i] < 240 || data[i + 1] < 240 || data[i + 2] < 240)) { inked++; }
}
return inked;
"""
# Where the bar of one category is, relative to the canvas centre (Selenium's origin).
BAR_AT = """
const node = document.getElementById('chart-category');
const chart = echarts.getInstanceByDom(node);
const names = chart.getOption().yAxis[0].data;
const index = names.indexOf(arguments[0]);
const value = chart.getOption().series[0].data[index].value;
const [x, y] = chart.convertToPixel({seriesIndex: 0}, [value / 2, index]);
return [x - node.clientWidth / 2, y - node.clientHeight / 2];
"""


def show_at(browser, width: int) -> None:
    browser.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 800})
    # No growing bars: a click aimed at a bar's final place hits it even on a slow machine.
    browser.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {
        "features": [{"name": "prefers-reduced-motion", "value": "reduce"}]})


def open_dashboard(browser) -> None:
    browser.open("/dashboard")
    browser.wait_for("#chart-map canvas")
    # ECharts draws on the next animation frames: wait until every chart has ink.
    WebDriverWait(browser.driver, 15).until(lambda d: all(
        d.execute_script(INKED, chart) > 200 for chart in CHARTS))


@pytest.mark.parametrize("width", [390, 1366])
def test_the_charts_draw_and_the_page_fits_the_screen(browser, history, width):  # noqa: F811
    browser.login("admin", PASSWORD)
    show_at(browser, width)
    open_dashboard(browser)
    assert browser.driver.execute_script("return window.innerWidth") == width
    for chart in CHARTS:
        box = browser.find(f"#{chart}")
        assert box.size["width"] <= width and box.size["height"] >= 200, chart
        assert browser.driver.execute_script(INKED, chart) > 200, f"{chart} is blank"
    overflow = browser.driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px"
    browser.screenshot(f"dashboard-{width}px")
    browser.driver.execute_script(
        "document.getElementById('chart-map').scrollIntoView({block: 'center'})")
    browser.screenshot(f"dashboard-map-{width}px")


def test_clicking_a_bar_opens_the_case_desk_filtered_the_same_way(browser, history):  # noqa: F811
    browser.login("admin", PASSWORD)
    show_at(browser, 1366)
    open_dashboard(browser)
    canvas = browser.find("#chart-category canvas")
    browser.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    x, y = browser.driver.execute_script(BAR_AT, "乱堆乱放")
    ActionChains(browser.driver).move_to_element_with_offset(
        browser.find("#chart-category"), int(x), int(y)).click().perform()
    WebDriverWait(browser.driver, 10).until(lambda d: "/cases?" in d.current_url)
    query = parse_qs(urlparse(browser.driver.current_url).query)
    assert query["category"] == ["clutter"] and "from" in query and "to" in query
    browser.wait_for("#case-list")
    numbers = [a.text for a in browser.finds("#case-list a[href^='/cases/MS-']")]
    assert len(numbers) == 2 and history["solved"] in numbers
    assert "受理日期" in browser.find("#drill-filters").text
    browser.screenshot("drill-down-cases")
