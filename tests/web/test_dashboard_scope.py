"""The dashboard, its exports and /api/stats show a user only their part of the grid tree:
two streets, and neither street's login ever sees the other's numbers or names."""
from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from minsheng.enums import GridLevel, StaffRole
from minsheng.models import Grid, Staff
from minsheng.services import cases
from minsheng.users import create_user
from tests.web.conftest import PASSWORD, login, open_case


@pytest.fixture
def two_streets(db, world):
    """和平街道 (the conftest world) with two cases; 胜利街道 beside it with one, solved."""
    with db.uow() as uow:
        s = uow.session
        district = Grid(code="13", name="新华区", level=GridLevel.district, xiaoqu=[],
                        buildings=[])
        s.add(district)
        s.flush()
        s.get(Grid, world.street_id).parent_id = district.id
        parent = district.id
        for code, name, level, xiaoqu in (("1302", "胜利街道", GridLevel.street, []),
                                          ("130201", "胜利社区", GridLevel.community, []),
                                          ("13020101", "胜利第一网格", GridLevel.grid,
                                           ["胜利小区"])):
            grid = Grid(code=code, name=name, level=level, parent_id=parent, xiaoqu=xiaoqu,
                        buildings=[])
            s.add(grid)
            s.flush()
            parent = grid.id
        worker = Staff(name="陈刚", public_name="陈网格员", role=StaffRole.grid_worker,
                       grid_id=parent)
        s.add(worker)
        s.flush()
        create_user(uow, "street2", PASSWORD, "street", "1302")
        uow.commit()
        worker_id = worker.id
    open_case(db, "楼道堆满杂物", "幸福小区", building="1号楼")
    open_case(db, "路灯不亮", "阳光花园", category="livelihood")
    other = open_case(db, "胜利小区垃圾没人收", "胜利小区", category="sanitation")
    with db.uow() as uow:
        cases.acknowledge(uow, other, worker_id)
        cases.resolve(uow, other, worker_id, "已清运", photo_path="var/photos/after.jpg")
        cases.rate(uow, other, "satisfied", "online")
        uow.commit()
    return other


def stats_of(client, username: str) -> dict:
    client.cookies.clear()
    login(client, username)
    return client.get("/api/stats").json()


def test_an_admin_sees_both_streets_ranked(client, two_streets):
    body = stats_of(client, "admin")
    assert body["overall"]["accepted"] == 3
    streets = {u["key"]: u for u in body["ranking"]["street"]}
    assert set(streets) == {"1301", "1302"} and streets["1302"]["rank"] == 1


def test_a_street_sees_only_its_own_cases_units_and_names(client, two_streets):
    mine = stats_of(client, "street")
    assert mine["overall"]["accepted"] == 2 and mine["resolution_rate"] is None
    assert [u["key"] for u in mine["ranking"]["street"]] == ["1301"]
    assert "胜利" not in str(mine) and "1302" not in str(mine)
    theirs = stats_of(client, "street2")
    assert theirs["overall"]["accepted"] == 1 and theirs["satisfaction_rate"] == 1.0
    assert "和平" not in str(theirs) and "幸福" not in str(theirs)


def test_the_page_and_both_exports_keep_to_the_street(client, two_streets):
    stats_of(client, "street")
    page = client.get("/dashboard").text
    assert 'id="m-accepted">2<' in page and "和平街道" in page and "胜利" not in page
    csv_text = client.get("/dashboard/export.csv").content.decode("utf-8-sig")
    assert "和平街道" in csv_text and "胜利" not in csv_text
    assert csv_text.splitlines()[1].startswith("合计,全部,2,")
    book = load_workbook(io.BytesIO(client.get("/dashboard/export.xlsx").content))
    cells = [str(c) for row in book.active.iter_rows(values_only=True) for c in row]
    assert "和平街道" in cells and not any("胜利" in c for c in cells)


def test_the_page_shows_the_rates_and_the_rankings(client, two_streets):
    stats_of(client, "admin")
    page = client.get("/dashboard").text
    assert "接诉即办指标" in page and "街道排名" in page and "响应率" in page
    assert 'id="r-satisfaction_rate">100.0%<' in page
    assert "胜利街道" in page and "和平街道" in page
