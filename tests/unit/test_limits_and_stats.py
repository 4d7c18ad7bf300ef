"""Deadlines from the time limits, and the three formulas of the 7621 report."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from minsheng.enums import CaseState, Category, Channel, FeedbackRoute, Rating
from minsheng.models import Case, CaseRating, TimeLimit
from minsheng.services import limits, stats
from tests.factories import T0

H = 60


@pytest.mark.parametrize(("category", "resolve_days"), [
    (Category.safety_hazard, 1), (Category.public_order, 1), (Category.sanitation, 2),
    (Category.clutter, 2), (Category.dispute, 3), (Category.livelihood, 3),
    (Category.illegal_construction, 5)])
def test_default_limits_follow_the_design_in_working_time(category, resolve_days):
    assert limits.default_limits(category, False) == (
        limits.Limit(2, "working_hours"), limits.Limit(resolve_days, "working_days"))
    assert limits.default_limits(category, True) == (
        limits.Limit(30, "minutes"), limits.Limit(4, "hours"))


def test_a_time_limit_row_overrides_the_default(db):
    # T0 is a Sunday: clock limits run through it, working ones wait for Monday 09:00
    with db.uow() as uow:
        uow.session.add(TimeLimit(category=Category.sanitation, urgent=False, ack_amount=1,
                                  ack_unit="hours", resolve_amount=12, resolve_unit="hours"))
        uow.session.flush()
        ack, resolve = limits.deadlines(uow.session, Category.sanitation, False, T0)
        assert (ack, resolve) == (T0 + timedelta(hours=1), T0 + timedelta(hours=12))
        other = limits.deadlines(uow.session, Category.sanitation, True, T0)
        assert other == (T0 + timedelta(minutes=30), T0 + timedelta(hours=4))
        dispute = limits.deadlines(uow.session, Category.dispute, False, T0)
        # Monday 09:00 + 2 working hours = 11:00; + 3 × 7 working hours = Wednesday 17:30
        assert dispute == (T0 + timedelta(days=1, hours=1), T0 + timedelta(days=3, hours=7.5))


def add_case(session, n, state, *, category=Category.clutter, channel=Channel.telegram,
             on_time=None, ratings=(), accepted=T0, grid_id=None):
    case = Case(case_no=f"MS-20261122-{n:04d}", category=category, description="x",
                channel=channel, state=state, accepted_at=accepted, resolved_on_time=on_time,
                grid_id=grid_id)
    session.add(case)
    session.flush()
    for i, value in enumerate(ratings):
        session.add(CaseRating(case_id=case.id, value=value, route=FeedbackRoute.online,
                               at=T0 + timedelta(minutes=i)))
    return case


def test_the_formulas_exactly(db, world):
    S = CaseState
    with db.uow() as uow:
        s = uow.session
        g1, g1m, g2 = (world.grids[c] for c in ("G1", "G1M1", "G2"))
        add_case(s, 1, S.closed, on_time=True, ratings=[Rating.satisfied], grid_id=g1)
        add_case(s, 2, S.closed, on_time=False, ratings=[Rating.basically_satisfied],
                 grid_id=g1m)
        # dissatisfied first, satisfied after rework: the latest rating counts
        add_case(s, 3, S.closed, on_time=True,
                 ratings=[Rating.dissatisfied, Rating.satisfied], grid_id=g2)
        add_case(s, 4, S.resolved, on_time=True, category=Category.sanitation,
                 channel=Channel.hotline, grid_id=g2)
        add_case(s, 5, S.closed, on_time=True, ratings=[Rating.dissatisfied], grid_id=g2)
        add_case(s, 6, S.in_progress, grid_id=g1)
        add_case(s, 7, S.reopened, ratings=[Rating.dissatisfied], grid_id=g1)
        add_case(s, 8, S.withdrawn, grid_id=g1)  # not accepted
        add_case(s, 9, S.merged, grid_id=g1)  # not accepted
        add_case(s, 10, S.closed, on_time=True, ratings=[Rating.satisfied],
                 accepted=T0 - timedelta(days=40))  # outside the period
        uow.commit()
        rep = stats.report(uow, date(2026, 11, 1), date(2026, 11, 30))
    o = rep.overall
    assert (o.accepted, o.resolved, o.on_time, o.rated, o.satisfied) == (7, 5, 4, 5, 3)
    assert o.closure_rate == pytest.approx(5 / 7)
    assert o.satisfaction == pytest.approx(3 / 5)
    assert o.on_time_rate == pytest.approx(4 / 5)
    grids = {r.key: r for r in rep.by_grid}
    assert (grids["G1"].accepted, grids["G2"].accepted) == (4, 3)  # micro-grid counts in G1
    categories = {r.key: r for r in rep.by_category}
    assert categories["sanitation"].resolved == 1 and categories["dispute"].accepted == 0
    assert categories["dispute"].closure_rate is None
    channels = {r.key: r for r in rep.by_channel}
    assert channels["hotline"].accepted == 1
    text = stats.format_report(rep)
    assert "受理 7 件，办结 5 件，办结率 71.4%，满意度 60.0%，按时办结率 80.0%" in text
    assert "按类别" in text and "按网格" in text and "幸福社区第一网格" in text
    data = stats.report_json(rep)
    assert data["overall"]["closure_rate"] == 0.7143
    assert {r["key"] for r in data["by_grid"]} == {"G1", "G2"}


def test_the_period_is_in_local_dates(db, world):
    with db.uow() as uow:
        # 2026-11-30 23:30 in Shanghai is 15:30 UTC: inside November
        add_case(uow.session, 1, CaseState.new, accepted=T0.replace(day=30, hour=15, minute=30))
        # 2026-12-01 00:30 in Shanghai is 16:30 UTC on Nov 30: outside
        add_case(uow.session, 2, CaseState.new, accepted=T0.replace(day=30, hour=16, minute=30))
        uow.commit()
        assert stats.report(uow, date(2026, 11, 1), date(2026, 11, 30)).overall.accepted == 1
        assert stats.report(uow, date(2026, 12, 1), date(2026, 12, 1)).overall.accepted == 1
