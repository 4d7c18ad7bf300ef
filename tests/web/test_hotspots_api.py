"""GET /api/hotspots (session or bearer token, scoped like /api/stats), the page that shows
the list, and ``minsheng hotspots``."""
from __future__ import annotations

import json

import pytest

from minsheng import cli
from tests.web.conftest import login, open_case

LIGHTS = ["阳光花园路灯坏了一排，晚上很黑", "小区好几盏路灯不亮了，看不见路", "路灯一直不亮，老人摔了一跤"]
JUNK = ["幸福小区楼道堆满纸箱和旧家具", "楼道里杂物又堆满了，走不过去"]


@pytest.fixture
def spots(db, world):
    lights = [open_case(db, text, "阳光花园", category="livelihood") for text in LIGHTS]
    junk = [open_case(db, text, "幸福小区") for text in JUNK]
    alone = open_case(db, "有人在小区门口打架", "幸福小区", category="public_order")
    return {"lights": lights, "junk": junk, "alone": alone}


@pytest.fixture
def cli_db(db, monkeypatch):
    monkeypatch.setenv("MINSHENG_DATABASE_URL", db.url)
    return db


def hotspots_of(client, username: str, **params) -> dict:
    client.cookies.clear()
    login(client, username)
    response = client.get("/api/hotspots", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_api_lists_hot_spots_most_reports_first_with_links_to_the_cases(client, spots):
    data = hotspots_of(client, "admin")
    assert data["days"] == 30 and data["alert_reports"] == 3
    first, second = data["items"]
    assert first["place"] == "阳光花园" and first["category_label"] == "民生诉求"
    assert first["reports"] == 3 and sorted(first["case_nos"]) == sorted(spots["lights"])
    assert first["trend"] == "new" and first["trend_label"] == "新出现"
    assert first["desk_url"] == "/cases?category=livelihood&grid=13010102"
    assert first["case_urls"][spots["lights"][0]] == f"/cases/{spots['lights'][0]}"
    assert second["reports"] == 2 and second["category"] == "clutter"
    every = [no for item in data["items"] for no in item["case_nos"]]
    assert spots["alone"] not in every


def test_each_login_sees_only_the_hot_spots_of_its_part_of_the_grid_tree(client, spots):
    assert [i["category"] for i in hotspots_of(client, "grid2")["items"]] == ["livelihood"]
    assert [i["category"] for i in hotspots_of(client, "grid1")["items"]] == ["clutter"]
    assert len(hotspots_of(client, "street")["items"]) == 2


def test_the_api_takes_a_bearer_token_and_refuses_a_call_without_one(client, spots, cli_db,
                                                                    capsys):
    client.cookies.clear()
    assert client.get("/api/hotspots").status_code == 401
    capsys.readouterr()
    assert cli.main(["token", "create", "--username", "grid1"]) == 0
    token = capsys.readouterr().out.strip()
    response = client.get("/api/hotspots", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert [i["case_nos"] for i in response.json()["items"]] == [
        sorted(spots["junk"], reverse=True)]
    bad = client.get("/api/hotspots", params={"days": 0},
                     headers={"Authorization": f"Bearer {token}"})
    assert bad.status_code == 422


def test_the_hot_spot_page_carries_the_partial_and_its_script(client, spots):
    login(client, "community")
    page = client.get("/hotspots?days=7")
    assert page.status_code == 200
    assert 'data-src="/api/hotspots?days=7"' in page.text
    assert '<script src="/static/hotspots.js" defer></script>' in page.text
    assert client.get("/static/hotspots.js").status_code == 200


def test_the_cli_prints_the_hot_spots_as_text_and_json(spots, cli_db, capsys):
    capsys.readouterr()
    assert cli.main(["hotspots"]) == 0
    text = capsys.readouterr().out
    assert "热点问题 2 个" in text and "阳光花园｜民生诉求｜3 次反映" in text
    assert cli.main(["hotspots", "--json", "--grid", "13010101"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [i["reports"] for i in data["items"]] == [2]
    assert cli.main(["hotspots", "--grid", "nope"]) == 1


def _snapshot(client, db, now=None):
    """What the scheduler does every hotspot_scan_minutes (scheduler_loop.scan_hotspots)."""
    from minsheng.clock import utcnow
    from minsheng.services import hotspot_snapshots, hotspots

    now = now or utcnow()
    with db.uow() as uow:
        hotspot_snapshots.take(uow, now, hotspots.Params.from_settings(
            client.app.state.settings))
        uow.commit()
    return now


def test_the_list_is_the_schedulers_snapshot_with_its_time_until_the_next_scan(client, spots,
                                                                               db):
    taken = _snapshot(client, db)
    data = hotspots_of(client, "admin")
    assert data["computed_at"] == taken.isoformat() + "Z"
    assert [i["reports"] for i in data["items"]] == [3, 2]
    open_case(db, "楼道又被旧家具和纸箱堵住了", "幸福小区")
    assert [i["reports"] for i in hotspots_of(client, "admin")["items"]] == [3, 2]  # snapshot
    assert hotspots_of(client, "grid1")["items"][0]["reports"] == 2
    fresh = hotspots_of(client, "grid1", days=7)  # another window: grouped now
    assert fresh["items"][0]["reports"] == 3 and fresh["computed_at"] != data["computed_at"]
    _snapshot(client, db)
    assert [i["reports"] for i in hotspots_of(client, "admin")["items"]] == [3, 3]
    assert [i["category"] for i in hotspots_of(client, "grid2")["items"]] == ["livelihood"]
    assert [i["category"] for i in hotspots_of(client, "grid1")["items"]] == ["clutter"]
    assert client.get("/api/hotspots", params={"days": 91}).status_code == 422


def test_a_stale_snapshot_is_not_served(client, spots, db):
    from datetime import timedelta

    from minsheng.clock import utcnow

    _snapshot(client, db, utcnow() - timedelta(days=1))
    data = hotspots_of(client, "admin")
    assert data["computed_at"] > (utcnow() - timedelta(minutes=5)).isoformat()
    assert [i["reports"] for i in data["items"]] == [3, 2]


def test_a_login_sees_a_hot_spot_cut_to_its_part_of_the_tree(db, world):
    from datetime import datetime

    from minsheng.services import hotspot_snapshots, hotspots

    at = [datetime(2026, 11, day, 2) for day in (1, 2, 3, 4)]
    spot = hotspots.Hotspot(
        category="clutter", place="幸福里", place_key="estate:幸福里", seed_case_id=1,
        latest_case_id=4, grid_id=world.grid1_id, grid_code="G1", grid_name="一",
        reports=4, previous=0, weekly=[0, 0, 0, 0, 4], first_at=at[0], last_at=at[3],
        case_nos=["D", "C", "B", "A"],
        members=[(world.grid2_id, [at[3]]), (world.grid1_id, [at[2]]),
                 (world.grid2_id, [at[1]]), (world.grid1_id, [at[0]])])
    snap = hotspot_snapshots.Snapshot(datetime(2026, 11, 5), hotspots.Params(), [spot])
    with db.uow() as uow:
        whole = snap.visible(uow.session, None)
        g2 = snap.visible(uow.session, {world.grid2_id})
        alone = hotspot_snapshots.Snapshot(snap.computed_at, hotspots.Params(min_reports=3),
                                           [spot]).visible(uow.session, {world.grid2_id})
    assert whole == [spot]
    assert [(s.reports, s.case_nos, s.first_at, s.last_at, s.grid_id) for s in g2] == [
        (2, ["D", "B"], at[1], at[3], world.grid2_id)]
    assert g2[0].grid_name != "一" and sum(g2[0].weekly) == 2
    assert alone == []  # two reports left: under min_reports
