"""The report from stored facts (services/stats_rollup.py) equals the live count, on a
generated district whose cases move through the real services: before and after the
scheduler's refresh, with changes not yet refreshed, as the clock passes 签收 deadlines,
for scoped logins, and after a time limit is edited."""
from __future__ import annotations

import random
from datetime import date, timedelta

from sqlalchemy import select

from minsheng.enums import Category, FeedbackRoute, Rating
from minsheng.models import Case, TimeLimit
from minsheng.places import Place
from minsheng.services import cases, stats, stats_rollup
from tests.factories import T0, build_world, report, resident

TZ = "Asia/Shanghai"
WORDS = ["楼道堆满杂物", "路灯坏了", "楼上漏水", "垃圾没人清运", "有人飞线充电", "半夜噪音"]
PERIODS = [(date(2026, 11, 1), date(2026, 11, 30)), (date(2026, 11, 22), date(2026, 11, 24)),
           (date(2026, 10, 1), date(2026, 12, 31))]


def _open_cases(db, rng: random.Random, count: int) -> list[tuple[str, int]]:
    """``count`` reports over three days, each from its own resident: (case_no, resident n)."""
    opened = []
    for n in range(1, count + 1):
        at = T0 + timedelta(hours=rng.randint(0, 72), minutes=rng.randint(0, 59))
        with db.uow() as uow:
            result = cases.open_case(uow, report(
                f"gen-{n}", category=rng.choice(list(Category)), who=resident(n),
                place=Place(rng.choice(["幸福里小区", "阳光花园"]), f"{n}号楼"),
                description=f"第{n}件：{rng.choice(WORDS)}"), now=at)
            uow.commit()
        opened.append((result.case_no, n))
    return opened


def _move(db, rng: random.Random, opened, now) -> None:
    """签收, 办结 (some late), ratings (some 不满意: reopened), withdrawals — at random."""
    for case_no, n in opened:
        with db.uow() as uow:
            case = uow.session.execute(select(Case).where(Case.case_no == case_no)).scalar_one()
            state, owner = str(case.state), case.assignee_id
        roll = rng.random()
        with db.uow() as uow:
            if state == "assigned" and roll < 0.7:
                cases.acknowledge(uow, case_no, owner, now=now + timedelta(minutes=n))
            elif state in ("acknowledged", "in_progress") and roll < 0.7:
                cases.resolve(uow, case_no, owner, "已处理", photo_path="done.jpg",
                              now=now + timedelta(hours=rng.choice([1, 100])))
            elif state == "resolved" and roll < 0.8:
                value = Rating.dissatisfied if roll < 0.2 else Rating.satisfied
                cases.rate(uow, case_no, value, FeedbackRoute.online, resident=resident(n),
                           now=now + timedelta(hours=101))
            elif state == "assigned" and roll > 0.95:
                cases.withdraw(uow, case_no, resident(n), now=now)


def _both(db, start: date, end: date, now, grid_ids=None):
    with db.uow() as uow:
        stored = stats_rollup.report(uow, start, end, TZ, grid_ids, now=now)
        live = stats.report(uow, start, end, TZ, grid_ids=grid_ids, now=now)
    return stored, live


def _refresh(db, now) -> int:
    with db.uow() as uow:
        changed = stats_rollup.refresh(uow, TZ, now)
        uow.commit()
    return changed


def _assert_same(db, now, scopes) -> None:
    for start, end in PERIODS:
        for grid_ids in scopes:
            stored, live = _both(db, start, end, now, grid_ids)
            assert stored is not None, "the stored facts were refused"
            assert stored == live, (start, end, grid_ids)
            with db.uow() as uow:
                assert stats_rollup.overall(uow, start, end, TZ, grid_ids, now) == live.overall


def test_the_stored_report_equals_the_live_one_while_cases_move(db):
    moving_district(db)


def moving_district(db) -> None:
    """40 cases opened, then moved four times; compared before and after each refresh
    (tests/integration runs it on PostgreSQL too)."""
    world = build_world(db)
    rng = random.Random(16)
    first_grid = {world.grids["G1"], world.grids["G1M1"]}
    scopes = [None, first_grid, set()]
    opened = _open_cases(db, rng, 40)
    assert _refresh(db, T0 + timedelta(days=4)) == 40  # the first build: every case
    now = T0 + timedelta(days=4)
    _assert_same(db, now, scopes)
    stored, _ = _both(db, *PERIODS[0], now)
    assert stored.overall.accepted == 40 and stored.overall.resolved == 0

    for step in range(4):  # cases move; compared before the refresh (pending) and after
        now += timedelta(days=1)
        _move(db, rng, opened, now)
        with db.uow() as uow:
            state = uow.session.get(stats_rollup.CaseFactsState, stats_rollup.STATE_ID)
            assert stats_rollup._changed_since(uow.session, state.case_id, state.event_id,
                                               state.rating_id), "nothing pending to overlay"
        _assert_same(db, now, scopes)
        assert _refresh(db, now) > 0
        _assert_same(db, now, scopes)
    stored, live = _both(db, *PERIODS[0], now)
    assert stored.overall.resolved > 5 and stored.overall.rated > 3
    assert any(r.reopened for r in [stored.overall])
    assert sum(r.accepted for r in stored.by_day) == stored.overall.accepted == live.overall.accepted


def test_a_passing_ack_deadline_counts_without_a_refresh(db):
    world = build_world(db)
    _open_cases(db, random.Random(3), 6)
    _refresh(db, T0)
    for now in (T0, T0 + timedelta(hours=1), T0 + timedelta(days=5)):
        _assert_same(db, now, [None, {world.grids["G2"]}])
    early, _ = _both(db, *PERIODS[0], T0)
    late, _ = _both(db, *PERIODS[0], T0 + timedelta(days=5))
    assert early.overall.due_for_ack < late.overall.due_for_ack == 6


def test_an_edited_time_limit_is_refused_until_the_facts_are_rebuilt(db):
    build_world(db)
    opened = _open_cases(db, random.Random(5), 10)
    _move(db, random.Random(6), opened, T0 + timedelta(days=3))
    now = T0 + timedelta(days=4)
    _refresh(db, now)
    with db.uow() as uow:
        for category in Category:
            uow.session.add(TimeLimit(category=category, urgent=False, ack_amount=1,
                                      ack_unit="minutes", resolve_amount=1,
                                      resolve_unit="hours"))
        uow.commit()
    stored, _ = _both(db, *PERIODS[0], now)
    assert stored is None
    _refresh(db, now)
    _assert_same(db, now, [None])


def test_too_many_pending_changes_fall_back_to_counting_live(db, monkeypatch):
    build_world(db)
    _refresh(db, T0)
    _open_cases(db, random.Random(8), 5)
    monkeypatch.setattr(stats_rollup, "MAX_PENDING", 3)
    stored, _ = _both(db, *PERIODS[0], T0 + timedelta(days=4))
    assert stored is None
    monkeypatch.setattr(stats_rollup, "MAX_PENDING", 1000)
    _assert_same(db, T0 + timedelta(days=4), [None])
