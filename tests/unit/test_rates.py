"""The 接诉即办 rates of docs/metrics.md, checked against cases and events made here.

Each case below is written as a small spec; the expected figures are worked out from the
specs in the test itself, not by the code under test.
"""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from minsheng.enums import ActorType, CaseState, Category, Channel, FeedbackRoute, GridLevel
from minsheng.models import Case, CaseEvent, CaseRating, Grid
from minsheng.services import stats
from tests.factories import T0

# Monday 09:00 in Shanghai: its first two working hours (the 签收 limit) are clock hours
BASE = T0 + timedelta(hours=23)
NOW = BASE + timedelta(days=1)
S = CaseState

# grid, state, minutes after BASE it was accepted, urgent, handling, on time,
# events: (action, minutes after acceptance, data or to_state)
SPECS = [
    {"grid": "G1", "state": S.closed, "handling": "grid", "on_time": True, "ratings": ["satisfied"],
         "events": [("acknowledge", 60), ("resolve", 300), ("rate", 400, S.closed)]},
    {"grid": "G1M1", "state": S.closed, "handling": "community", "on_time": False,
         "ratings": ["dissatisfied", "basically_satisfied"],
         "events": [("acknowledge", 200), ("urge", 210, {"auto": False}),
                 ("urge", 220, {"auto": True}), ("resolve", 300),
                 ("rate", 400, S.reopened), ("acknowledge", 500), ("resolve", 600),
                 ("rate", 700, S.closed)]},
    {"grid": "G2", "state": S.in_progress, "events": [
        ("acknowledge", 10), ("request_extension", 100), ("approve_extension", 120),
        ("cosign", 130)]},
    {"grid": "G2", "state": S.assigned, "events": [("return", 30, {"reason_code": "not_my_grid"})]},
    {"grid": "G2", "state": S.assigned, "urgent": True, "accepted": 24 * 60 - 10, "events": []},
    {"grid": "G1", "state": S.resolved, "handling": "grid", "on_time": True,
         "events": [("acknowledge", 100), ("urge", 110, {"auto": True}), ("resolve", 200),
                 ("request_extension", 150), ("refuse_extension", 160)]},
    {"grid": "G2", "state": S.reopened, "ratings": ["dissatisfied"],
         "events": [("acknowledge", 20), ("resolve", 50), ("rate", 60, S.reopened)]},
    {"grid": "G1", "state": S.withdrawn, "events": [("acknowledge", 5), ("return", 6, {})]},
    {"grid": "G3", "state": S.closed, "handling": "street_whistle", "on_time": True,
         "ratings": ["satisfied"],
         "events": [("acknowledge", 30), ("resolve", 90), ("rate", 100, S.closed)]},
]
ACK_LIMIT = {False: 120, True: 30}  # minutes, DESIGN.md


def add_second_street(db, world):
    """S2 → C2 → G3 beside the factory world's S1."""
    with db.uow() as uow:
        s = uow.session
        parent = world.grids["D1"]
        for code, name, level in (("S2", "胜利街道", GridLevel.street),
                                  ("C2", "胜利社区", GridLevel.community),
                                  ("G3", "胜利第一网格", GridLevel.grid)):
            grid = Grid(code=code, name=name, level=level, parent_id=parent, xiaoqu=[],
                        buildings=[])
            s.add(grid)
            s.flush()
            world.grids[code] = parent = grid.id
        uow.commit()
    return world


def make_cases(db, world):
    """The factory world, a second street, and the SPECS as cases with their events."""
    world = add_second_street(db, world)
    with db.uow() as uow:
        s = uow.session
        for n, spec in enumerate(SPECS, start=1):
            accepted = BASE + timedelta(minutes=spec.get("accepted", 0))
            case = Case(case_no=f"MS-20261122-{n:04d}", category=Category.clutter,
                        description="x", channel=Channel.telegram, state=spec["state"],
                        accepted_at=accepted, urgent=spec.get("urgent", False),
                        grid_id=world.grids[spec["grid"]], handling=spec.get("handling"),
                        resolved_on_time=spec.get("on_time"))
            s.add(case)
            s.flush()
            for i, value in enumerate(spec.get("ratings", [])):
                s.add(CaseRating(case_id=case.id, value=value, route=FeedbackRoute.online,
                                 at=accepted + timedelta(minutes=i)))
            for action, minutes, *extra in spec["events"]:
                extra = extra[0] if extra else None
                s.add(CaseEvent(case_id=case.id, at=accepted + timedelta(minutes=minutes),
                                actor_type=ActorType.staff, action=action,
                                to_state=extra if isinstance(extra, CaseState) else None,
                                data=extra if isinstance(extra, dict) else None))
        uow.commit()
    return world


@pytest.fixture
def cases(db, world):
    return make_cases(db, world)


def expected(specs) -> dict:
    """The rates worked out from the specs, formula by formula as docs/metrics.md says."""
    counted = [c for c in specs if c["state"] not in (S.withdrawn, S.merged)]

    def has(c, action, test=lambda extra: True):
        return any(e[0] == action and test(e[2] if len(e) > 2 else None) for e in c["events"])

    def first_ack(c):
        return min((e[1] for e in c["events"] if e[0] == "acknowledge"), default=None)

    def due(c):
        limit = ACK_LIMIT[c.get("urgent", False)]
        return first_ack(c) is not None or NOW > BASE + timedelta(
            minutes=c.get("accepted", 0) + limit)

    done = [c for c in counted if c["state"] in (S.resolved, S.closed)]
    rated = [c for c in counted if c.get("ratings")]
    good = [c for c in rated if c["ratings"][-1] in ("satisfied", "basically_satisfied")]
    ever = [c for c in counted if has(c, "resolve")]

    def ratio(a, b):
        return round(len(a) / len(b), 4) if b else None

    return {
        "ack_rate": ratio([c for c in counted if first_ack(c) is not None], counted),
        "response_rate": ratio([c for c in counted if first_ack(c) is not None and first_ack(c)
                                <= ACK_LIMIT[c.get("urgent", False)]],
                               [c for c in counted if due(c)]),
        "resolution_rate": ratio([c for c in good if c in done], done),
        "satisfaction_rate": ratio(good, rated),
        "on_time_rate": ratio([c for c in done if c.get("on_time")], done),
        "reopen_rate": ratio([c for c in ever if has(c, "rate", lambda x: x == S.reopened)],
                             ever),
        "return_rate": ratio([c for c in counted if has(c, "return")], counted),
        "urge_rate": ratio([c for c in counted
                            if has(c, "urge", lambda x: not (x or {}).get("auto"))], counted),
        "extension_rate": ratio([c for c in counted if has(c, "approve_extension")], counted),
    }


def test_every_new_rate_follows_its_formula(db, cases):
    with db.uow() as uow:
        data = stats.report_json(stats.report(uow, date(2026, 11, 1), date(2026, 11, 30),
                                              now=NOW))
    want = expected(SPECS)
    assert {name: data[name] for name in want} == want
    # the fixture really exercises each formula: none of them is 0/0, 0 or 1 by accident
    assert all(0 < value < 1 for value in want.values()), want
    assert data["overall"]["accepted"] == 8
    assert data["overall"]["urged_auto"] == 2 and data["overall"]["cosigned"] == 1


def test_the_report_keeps_its_keys_and_adds_exactly_the_new_ones(db, cases):
    old = {"from", "to", "headline", "overall", "by_category", "by_grid", "by_channel"}
    new = {"response_rate", "resolution_rate", "satisfaction_rate", "ack_rate", "on_time_rate",
           "reopen_rate", "return_rate", "urge_rate", "extension_rate", "by_handling_method",
           "ranking"}
    with db.uow() as uow:
        data = stats.report_json(stats.report(uow, date(2026, 11, 1), date(2026, 11, 30),
                                              now=NOW))
    assert set(data) == old | new
    assert data["satisfaction_rate"] == data["overall"]["satisfaction"]


def test_handling_methods_count_the_resolved_cases(db, cases):
    with db.uow() as uow:
        methods = stats.report_json(stats.report(
            uow, date(2026, 11, 1), date(2026, 11, 30), now=NOW))["by_handling_method"]
    assert set(methods) == {"on_the_spot", "grid", "community", "street_whistle",
                            "joint_meeting", "referral"}
    assert [methods[m]["resolved"] for m in ("grid", "community", "street_whistle")] == [2, 1, 1]
    assert methods["grid"]["share"] == 0.5 and methods["joint_meeting"]["resolved"] == 0
    assert methods["grid"]["on_time_rate"] == 1.0 and methods["community"]["on_time_rate"] == 0.0
    assert methods["joint_meeting"]["on_time_rate"] is None  # 0/0 is None, shown "—"


def test_streets_communities_grids_and_months_are_ranked(db, cases):
    with db.uow() as uow:
        ranking = stats.report_json(stats.report(
            uow, date(2026, 11, 1), date(2026, 11, 30), now=NOW))["ranking"]
    streets = {u["key"]: u for u in ranking["street"]}
    assert set(streets) == {"S1", "S2"}
    # S2: responded, solved, satisfied → score 1; S1 lower
    assert (streets["S2"]["rank"], streets["S1"]["rank"]) == (1, 2)
    assert streets["S2"]["score"] == 1.0
    s1 = [c for c in SPECS if c["grid"] != "G3"]
    want = expected(s1)
    assert streets["S1"]["score"] == pytest.approx(
        0.1 * want["response_rate"] + 0.45 * want["resolution_rate"]
        + 0.45 * want["satisfaction_rate"], abs=1e-4)
    grids = {u["key"]: u for u in ranking["grid"]}
    assert set(grids) == {"G1", "G2", "G3"}  # the micro-grid counts with G1
    assert grids["G1"]["accepted"] == 3 and grids["G2"]["rank"] is None  # nothing resolved
    assert [m["key"] for m in ranking["month"]] == ["2026-11"]


def test_a_street_scope_sees_none_of_the_other_street(db, cases):
    with db.uow() as uow:
        ids = {g.id for g in uow.session.query(Grid) if g.code in ("S1", "C1", "G1", "G1M1",
                                                                    "G2")}
        data = stats.report_json(stats.report(
            uow, date(2026, 11, 1), date(2026, 11, 30), grid_ids=ids, now=NOW))
    assert data["overall"]["accepted"] == 7
    assert [u["key"] for u in data["ranking"]["street"]] == ["S1"]
    assert "G3" not in str(data) and "胜利" not in str(data)
    want = expected([c for c in SPECS if c["grid"] != "G3"])
    assert {name: data[name] for name in want} == want


def test_the_printed_report_has_the_rates_and_rankings(db, cases):
    with db.uow() as uow:
        text = stats.format_report(stats.report(uow, date(2026, 11, 1), date(2026, 11, 30),
                                                now=NOW))
    assert "接诉即办指标 · 街道排名" in text and "响应率" in text and "延期率" in text
    assert "按处理方式（已办结）" in text and "2026-11" in text
