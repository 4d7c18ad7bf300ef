"""The dashboard page: KPI cards against their targets and the previous period, chart data
as JSON for ECharts (served from our own static files), the grid map from the polygons,
drill-down links that the case desk honours, the 7621 report once, errors by the form."""
from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape

import pytest

from minsheng.clock import to_local, utcnow
from minsheng.models import Case, Grid
from minsheng.services import cases, stats
from tests.web.conftest import login, open_case


def today():
    return to_local(utcnow(), "Asia/Shanghai").date()


@pytest.fixture
def history(db, world):
    """This period: two clutter cases in grid 1 (one solved, rated 满意) and one livelihood
    case in grid 2; the previous period: one case 35 days ago. Grid 1 has a boundary."""
    solved = open_case(db, "楼道堆满杂物", "幸福小区", building="1号楼")
    open_case(db, "单元门口堆放纸箱", "幸福小区", building="2号楼")
    open_case(db, "路灯不亮", "阳光花园", category="livelihood", channel="hotline")
    earlier = open_case(db, "楼下垃圾没人收", "幸福小区", category="sanitation")
    with db.uow() as uow:
        cases.acknowledge(uow, solved, world.worker1_id)
        cases.resolve(uow, solved, world.worker1_id, "已清理", photo_path="var/photos/a.jpg")
        cases.rate(uow, solved, "satisfied", "online")
        s = uow.session
        old = s.query(Case).filter_by(case_no=earlier).one()
        old.accepted_at = old.accepted_at - timedelta(days=35)
        s.get(Grid, world.grid1_id).polygon = [[38.039, 114.509], [38.039, 114.511],
                                                [38.041, 114.511], [38.041, 114.509]]
        uow.commit()
    return {"solved": solved, "earlier": earlier}


def page_of(client, user="admin", **params):
    client.cookies.clear()
    login(client, user)
    return client.get("/dashboard", params=params)


def chart_data(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>',
                      html, re.DOTALL)
    assert match, "no chart data block"
    return json.loads(unescape(match.group(1)))


def card(html: str, card_id: str) -> str:
    """The whole <a class="card kpi …"> holding the value with this id."""
    cards = re.findall(r'<a class="card kpi[^"]*".*?</a>', html, re.DOTALL)
    return next(c for c in cards if f'id="{card_id}"' in c)


def test_cards_are_coloured_by_their_target_not_all_red(client, app, history):
    app.state.settings.dashboard_targets = {"closure_rate": 0.95, "satisfaction_rate": 0.90,
                                            "on_time_rate": 0.90}
    html = page_of(client).text
    assert 'class="card kpi good"' in card(html, "m-satisfaction")  # 1 of 1 satisfied
    assert 'class="card kpi bad"' in card(html, "m-closure")  # 1 of 3 resolved
    assert "目标 95.0%" in card(html, "m-closure") and "未达标" in card(html, "m-closure")
    app.state.settings.dashboard_targets = {"closure_rate": 0.35}
    html = page_of(client).text
    assert 'class="card kpi warn"' in card(html, "m-closure")  # 33.3 % is within 5 points


def test_cards_compare_with_the_previous_period(client, history):
    html = page_of(client).text
    assert "▲ 2 件" in card(html, "m-accepted")  # 3 now, 1 in the 30 days before
    assert "▲ 1 件" in card(html, "m-resolved")
    start = today() - timedelta(days=29)
    before = stats.previous_period(start, today())
    assert f"对比上期：{before[0]} 至 {before[1]}" in html


def test_the_chart_data_matches_the_report(client, db, history):
    data = chart_data(page_of(client).text)
    start, end = today() - timedelta(days=29), today()
    with db.uow() as uow:
        rep = stats.report(uow, start, end)
    by_label = {row["name"]: row["value"] for row in data["category"]}
    assert by_label == {r.label: r.accepted for r in rep.by_category}
    assert sum(data["trend"]["accepted"]) == rep.overall.accepted == 3
    assert sum(data["trend"]["resolved"]) == rep.overall.resolved == 1
    assert len(data["trend"]["labels"]) == 30 and data["trend"]["unit"] == "日"
    assert {r["name"]: r["value"] for r in data["channel"]}["热线电话"] == 1


def test_the_map_is_drawn_from_the_grid_polygons_only(client, history):
    data = chart_data(page_of(client).text)["map"]
    features = data["geo"]["features"]
    assert [f["properties"]["name"] for f in features] == ["幸福第一网格"]  # grid 2 has none
    ring = features[0]["geometry"]["coordinates"][0]
    assert ring[0] == [114.509, 38.039] and ring[0] == ring[-1]  # [lon, lat], closed
    assert data["data"][0]["accepted"] == 2


def test_a_grid_worker_sees_only_their_grid_on_the_map(client, db, world, history):
    with db.uow() as uow:
        uow.session.get(Grid, world.grid2_id).polygon = [[38.05, 114.52], [38.05, 114.53],
                                                          [38.06, 114.53]]
        uow.commit()
    names = [f["properties"]["name"] for f in
             chart_data(page_of(client, "grid2").text)["map"]["geo"]["features"]]
    assert names == ["阳光第二网格"]
    assert len(chart_data(page_of(client).text)["map"]["geo"]["features"]) == 2


def test_every_drill_down_leads_to_the_same_cases_on_the_desk(client, history):
    html = page_of(client).text
    data = chart_data(html)
    clutter = next(r for r in data["category"] if r["name"] == "乱堆乱放")
    assert "category=clutter" in clutter["href"] and "from=" in clutter["href"]
    desk = client.get(clutter["href"]).text
    assert desk.count('<a href="/cases/MS-') == clutter["value"] == 2
    everything = client.get(card(html, "m-accepted").split('href="')[1].split('"')[0]
                            .replace("&amp;", "&")).text
    assert history["earlier"] not in everything and history["solved"] in everything
    assert history["earlier"] in client.get("/cases").text  # only the period hid it
    day = data["trend"]["hrefs"][-1]
    assert client.get(day).text.count('<a href="/cases/MS-') == 3  # all three today


def test_the_desk_filters_by_handling_method(client, db, history):
    with db.uow() as uow:
        handling = str(uow.session.query(Case).filter_by(case_no=history["solved"]).one()
                       .handling or "")
    assert handling, "a resolved case records its handling method"
    login(client, "admin")
    page = client.get("/cases", params={"handling": handling}).text
    assert history["solved"] in page and page.count('<a href="/cases/MS-') == 1
    assert "处理方式" in page


def test_the_7621_report_is_shown_once_as_a_table(client, history):
    html = page_of(client).text
    assert html.count("7621 报告") == 1 and "<pre" not in html
    table = html.split('id="report-7621"')[1].split("</table>")[0]
    assert "按类别" in table and "按渠道" in table and "按处理方式" in table
    assert re.search(r"<th scope=\"row\">全部</th><td class=\"num\">3</td>"
                     r"<td class=\"num\">1</td><td class=\"num\">33.3%</td>", table)
    assert html.count("受理 3 件，办结 1 件") == 1


def test_a_date_that_is_not_a_date_comes_back_next_to_the_form(client, history):
    response = page_of(client, **{"from": "2026-13-45"})
    assert response.status_code == 422
    assert 'role="alert">开始日期格式不对' in response.text
    assert 'aria-invalid="true"' in response.text and 'id="m-accepted"' not in response.text


def test_echarts_is_served_from_our_own_static_files_under_the_csp(client, history):
    response = page_of(client)
    csp = response.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "script-src 'self'" in csp
    scripts = re.findall(r"<script([^>]*)>", response.text)
    assert all('src="/static/' in s or 'type="application/json"' in s for s in scripts)
    assert '<script src="/static/vendor/echarts/echarts.min.js">' in response.text
    library = client.get("/static/vendor/echarts/echarts.min.js")
    assert library.status_code == 200 and "registerMap" in library.text
    assert client.get("/static/dashboard.js").status_code == 200


def test_the_hotspot_partial_has_its_place(client, app, history):
    source = (app.state.templates.env.loader.get_source(app.state.templates.env,
                                                        "dashboard.html"))[0]
    assert '{% include "_hotspots.html" ignore missing %}' in source


def test_a_cached_report_is_counted_again_after_a_change(client, db, world, history):
    before = chart_data(page_of(client).text)
    assert sum(before["trend"]["resolved"]) == 1
    case_no = open_case(db, "小区门口垃圾堆积", "阳光花园", category="sanitation")
    with db.uow() as uow:
        cases.acknowledge(uow, case_no, world.worker2_id)
        cases.resolve(uow, case_no, world.worker2_id, "已清运", photo_path="var/photos/b.jpg")
        uow.commit()
    after = chart_data(page_of(client).text)
    assert sum(after["trend"]["accepted"]) == 4 and sum(after["trend"]["resolved"]) == 2


def test_echarts_comes_from_the_npm_registry_through_the_lock_and_make_install():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    wanted = json.loads((root / "package.json").read_text())["dependencies"]["echarts"]
    locked = json.loads((root / "package-lock.json").read_text())["packages"]
    entry = locked["node_modules/echarts"]
    assert entry["version"] == wanted
    assert entry["integrity"].startswith("sha512-")  # the registry's tarball, by hash
    assert "resolved" not in entry or entry["resolved"].startswith("https://registry.npmjs.org/")
    installed = json.loads((root / "node_modules/echarts/package.json").read_text())
    assert installed["version"] == wanted  # npm ci installed exactly the locked version
    assert "npm ci" in (root / "scripts/bootstrap.sh").read_text()


def test_the_overdue_list_keeps_to_the_scope_longest_overdue_first(client, db, history):
    with db.uow() as uow:
        s = uow.session
        earlier = s.query(Case).filter_by(case_no=history["earlier"]).one()
        earlier.resolve_deadline = utcnow() - timedelta(days=3)
        late = s.query(Case).filter(Case.case_no != history["solved"],
                                    Case.case_no != history["earlier"]).all()
        for hours, row in enumerate(late, start=1):
            row.resolve_deadline = utcnow() - timedelta(hours=hours)
        uow.commit()
        grid_of = {c.case_no: c.grid_id for c in s.query(Case).all()}
    admin = page_of(client).text.split('id="overdue-list"')[1].split("</table>")[0]
    listed = re.findall(r'href="/cases/(MS-[^"]+)"', admin)
    assert listed[0] == history["earlier"] and len(listed) == 3  # 3 days late first
    mine = page_of(client, "grid2").text.split('id="overdue-list"')[1].split("</table>")[0]
    seen = re.findall(r'href="/cases/(MS-[^"]+)"', mine)
    assert seen and all(grid_of[n] == grid_of[seen[0]] for n in seen)
    assert history["earlier"] not in seen  # grid 1's case


def test_the_figures_come_from_the_stored_facts_and_equal_the_live_count(client, app, db,
                                                                          world, history,
                                                                          monkeypatch):
    """Once the scheduler has stored the facts, /api/stats, the page and the export count
    nothing live — and a case that changed since is still counted (services/stats_rollup)."""
    from minsheng.services import stats_rollup

    tz, live_report = app.state.settings.timezone, stats.report
    with db.uow() as uow:
        assert stats_rollup.refresh(uow, tz) == 4
        uow.commit()
    start, end = today() - timedelta(days=29), today()
    monkeypatch.setattr(stats, "report", lambda *a, **k: pytest.fail("counted live"))
    page_of(client)
    period = {"from": str(start), "to": str(end)}

    def live() -> dict:
        with db.uow() as uow:
            return stats.report_json(live_report(uow, start, end, tz))

    assert client.get("/api/stats", params=period).json() == live()
    assert client.get("/dashboard/export.csv", params=period).status_code == 200
    data = chart_data(client.get("/dashboard").text)
    assert sum(data["trend"]["accepted"]) == 3 and sum(data["trend"]["resolved"]) == 1
    other = open_case(db, "单元门口又堆了纸箱", "幸福小区", building="3号楼")
    with db.uow() as uow:
        cases.acknowledge(uow, other, world.worker1_id)
        cases.resolve(uow, other, world.worker1_id, "已清理", photo_path="var/photos/b.jpg")
    changed = client.get("/api/stats", params=period).json()
    assert changed == live() and changed["overall"]["resolved"] == 2
