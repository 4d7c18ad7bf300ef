"""Place → grid → staff, category rules, and the duty/load preference."""
from __future__ import annotations

import pytest
from sqlalchemy import update

from minsheng.enums import Category, StaffRole
from minsheng.models import Grid, RoutingRule, Staff
from minsheng.places import Place, parse_place
from minsheng.services import routing
from minsheng.services.cases import open_case
from tests.factories import T0, report


def route(db, place=None, lat=None, lon=None, category=Category.clutter):
    with db.uow() as uow:
        found = routing.route(uow, place, lat, lon, category)
        return (found.grid.code if found.grid else None,
                found.assignee.id if found.assignee else None,
                [m.id for m in found.informed], found.matched_by)


@pytest.mark.parametrize(("text", "grid"), [
    ("幸福里小区三栋2单元502", "G1"),      # 三栋 → 3号楼, coverage says 3栋
    ("幸福里2号楼", "G1"),
    ("幸福里小区1号楼", "G1M1"),           # the micro-grid is more specific than its grid
    ("幸福里5幢", "G2"),
    ("阳光花园", "G2"),                    # only one working grid covers the estate
    ("幸福里小区", "C1"),                  # two grids share it: the community decides
    ("6号楼", "G2"),                       # a bare building only one grid lists
])
def test_a_place_is_matched_against_coverage_lists(db, world, text, grid):
    assert route(db, parse_place(text))[0] == grid


def test_the_micro_grid_without_staff_falls_back_to_its_grid_worker(db, world):
    code, assignee, _, how = route(db, Place("幸福里", "1号楼"))
    assert (code, how) == ("G1M1", "building")
    assert assignee in (world.staff["worker1"], world.staff["worker1b"])


def test_an_unknown_place_goes_to_the_community_desk(db, world):
    code, assignee, _, how = route(db, Place("不存在小区", "9号楼"))
    assert (code, assignee, how) == ("C1", world.staff["desk"], "desk")


def test_a_shared_location_goes_to_the_nearest_grid_or_polygon(db, world):
    assert route(db, None, 38.0195, 114.5195)[0::3] == ("G2", "nearest")
    assert route(db, None, 39.5, 116.0)[0::3] == ("C1", "desk")  # far from every grid
    with db.uow() as uow:
        uow.session.execute(update(Grid).where(Grid.code == "G1").values(
            polygon=[[38.10, 114.60], [38.10, 114.70], [38.20, 114.70], [38.20, 114.60]]))
        uow.commit()
    assert route(db, None, 38.15, 114.65)[0::3] == ("G1", "polygon")


def test_on_duty_staff_are_preferred_then_the_least_loaded(db, world):
    w1, w1b = world.staff["worker1"], world.staff["worker1b"]
    assert route(db, Place("幸福里", "3号楼"))[1] == w1  # equal load: lowest id
    with db.uow() as uow:
        open_case(uow, report("one"), now=T0)  # worker1 now has one open case
    assert route(db, Place("幸福里", "3号楼"))[1] == w1b
    with db.uow() as uow:
        uow.session.execute(update(Staff).where(Staff.id == w1b).values(on_duty=False))
        uow.commit()
    assert route(db, Place("幸福里", "3号楼"))[1] == w1  # busier but on duty


def test_public_order_informs_the_police_liaison(db, world):
    _, assignee, informed, _ = route(db, Place("幸福里", "3号楼"), category=Category.public_order)
    assert assignee == world.staff["worker1"] and informed == [world.staff["police"]]
    _, _, informed, _ = route(db, Place("幸福里", "3号楼"),
                              category=Category.illegal_construction)
    assert informed == [world.staff["enforcement"]]
    assert route(db, Place("幸福里", "3号楼"), category=Category.sanitation)[2] == []


def test_a_replace_rule_changes_the_assignee(db, world):
    with db.uow() as uow:
        uow.session.add(RoutingRule(category=Category.dispute, action="replace",
                                    staff_role=StaffRole.community, active=True))
        uow.commit()
    assert route(db, Place("幸福里", "3号楼"), category=Category.dispute)[1] == world.staff["desk"]


def test_default_rules_are_added_only_to_an_empty_table(db):
    with db.uow() as uow:
        assert routing.ensure_default_rules(uow.session) == 2
        uow.session.flush()
        assert routing.ensure_default_rules(uow.session) == 0
