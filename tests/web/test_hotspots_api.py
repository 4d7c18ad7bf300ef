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


def test_a_scopes_list_is_kept_two_minutes_then_computed_again(client, spots, db,
                                                              monkeypatch):
    from web import hotspots as page

    clock = [1000.0]
    monkeypatch.setattr(page.time, "monotonic", lambda: clock[0])
    assert hotspots_of(client, "grid1")["items"][0]["reports"] == 2
    open_case(db, "楼道又被旧家具和纸箱堵住了", "幸福小区")
    assert hotspots_of(client, "grid1")["items"][0]["reports"] == 2  # kept
    assert [i["reports"] for i in hotspots_of(client, "admin")["items"]] == [3, 3]  # its own
    clock[0] += page.CACHE_SECONDS + 1
    assert hotspots_of(client, "grid1")["items"][0]["reports"] == 3
    assert client.get("/api/hotspots", params={"days": page.MAX_DAYS + 1}).status_code == 422
