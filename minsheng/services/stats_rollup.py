"""The 7621 report from stored per-case facts: a period's figures in six GROUP BY queries
instead of reading every case of the period and its events (seconds at 100,000 cases).

``refresh`` (the scheduler, every tick) stores for each accepted case what ``stats`` counts
of it — its mask of counts (``stats.mask``), the keys of every breakdown, and, while it is
not acknowledged, its first 签收 deadline (响应率's denominator moves with the clock). It
recomputes with ``stats.read_facts`` itself the cases changed since the last refresh: every
change to a case writes a ``CaseEvent`` and every rating a ``CaseRating``, so the cases
with newer case, event or rating ids are the changed ones.

``report`` never serves stale figures: the cases changed since the facts were complete
(``pending``) are left out of the stored counts and counted live, and when the facts
cannot be trusted — never built, another timezone, time limits edited since, too many
pending changes — it returns None and the caller counts everything live.

Complete up to the ids the *previous* refresh saw, not this one's: a transaction that had
taken its ids but not yet committed when a refresh looked is still counted by the next.
A full rebuild every REBUILD_HOURS bounds anything else (a case row edited without an
event).
"""
from __future__ import annotations

import hashlib
from collections import Counter
from datetime import date, datetime, timedelta

from sqlalchemy import and_, case, delete, func, insert, select

from minsheng.clock import utcnow
from minsheng.models import Case, CaseEvent, CaseFact, CaseFactsState, CaseRating, TimeLimit

from . import stats

MAX_PENDING = 1000  # more changed cases than this since the last refresh: count live
CHUNK = 5000  # cases recomputed per query batch
REBUILD_HOURS = 24
STATE_ID = 1
DUE_BIT = 1 << stats.COUNTS.index("due_for_ack")
_COLUMNS = {"category": CaseFact.category, "channel": CaseFact.channel, "day": CaseFact.day,
            "grid": CaseFact.grid_id, "staff": CaseFact.assignee_id,
            "handling": CaseFact.handling}
# breakdowns queried together: (7 categories × channels × methods) and (grid, its staff)
# have few combinations; days alone
_GROUPS = (("category", "channel", "handling"), ("grid", "staff"), ("day",))


def limits_stamp(session) -> str:
    """The time limits as configured (a 签收 limit edited changes past 响应率)."""
    rows = session.execute(select(
        TimeLimit.category, TimeLimit.urgent, TimeLimit.ack_amount, TimeLimit.ack_unit,
        TimeLimit.resolve_amount, TimeLimit.resolve_unit)).all()
    text = repr(sorted((str(c), bool(u), a, au, r, ru) for c, u, a, au, r, ru in rows))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _newest_ids(session) -> tuple[int, int, int]:
    return tuple(v or 0 for v in session.execute(select(
        select(func.max(Case.id)).scalar_subquery(),
        select(func.max(CaseEvent.id)).scalar_subquery(),
        select(func.max(CaseRating.id)).scalar_subquery())).one())


def _changed_since(session, case_id: int, event_id: int, rating_id: int,
                   limit: int | None = None) -> set[int]:
    """Cases created, moved or rated after those ids (at most ``limit`` + 1 of each kind)."""
    found: set[int] = set()
    for query in (select(Case.id).where(Case.id > case_id),
                  select(CaseEvent.case_id).where(CaseEvent.id > event_id).distinct(),
                  select(CaseRating.case_id).where(CaseRating.id > rating_id).distinct()):
        found.update(session.execute(query.limit(limit + 1) if limit else query).scalars())
    return found


def _fact_rows(session, where: list, tz: str, now: datetime) -> list[dict]:
    """Stored rows for the accepted cases matching ``where``, computed by ``stats.read_facts``."""
    rows = []
    facts = stats.read_facts(session, [*where, Case.state.notin_(stats.NOT_ACCEPTED)], tz, now)
    for f in facts.values():
        f.due_for_ack = f.acknowledged  # the clock's part is added when read (ack_due)
        rows.append({"case_id": f.case_id, "day": f.day, "grid_id": f.grid_id,
                     "category": f.category, "channel": f.channel,
                     "handling": f.handling or stats.NO_HANDLING,
                     "assignee_id": f.assignee_id, "mask": stats.mask(f),
                     "ack_due": None if f.acknowledged else f.ack_limit.due()})
    return rows


def _store(session, ids: list[int], tz: str, now: datetime) -> None:
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        session.execute(delete(CaseFact).where(CaseFact.case_id.in_(chunk)))
        rows = _fact_rows(session, [Case.id.in_(chunk)], tz, now)
        if rows:
            session.execute(insert(CaseFact), rows)


def _rebuild(uow, tz: str, stamp: str, now: datetime) -> CaseFactsState:
    """Every case again, CHUNK cases a transaction: a district's year takes many seconds and
    must not hold SQLite's write lock all that time. Until the state row below is written,
    readers go on with the old state (the rows rewritten so far are as true as the old
    ones) or, after a timezone or limits change, count live."""
    session = uow.session
    newest = _newest_ids(session)
    top = session.execute(select(func.max(CaseFact.case_id))).scalar() or 0
    for start in range(0, max(newest[0], top), CHUNK):
        in_chunk = [CaseFact.case_id > start, CaseFact.case_id <= start + CHUNK]
        session.execute(delete(CaseFact).where(*in_chunk))
        rows = _fact_rows(session, [Case.id > start, Case.id <= start + CHUNK], tz, now)
        if rows:
            session.execute(insert(CaseFact), rows)
        uow.commit()
    state = session.get(CaseFactsState, STATE_ID) or CaseFactsState(id=STATE_ID)
    state.tz, state.limits_stamp, state.built_at, state.refreshed_at = tz, stamp, now, now
    state.case_id, state.event_id, state.rating_id = newest
    state.seen_case_id, state.seen_event_id, state.seen_rating_id = newest
    session.add(state)
    return state


def refresh(uow, tz: str, now: datetime | None = None) -> int:
    """Bring the stored facts up to date (the caller commits; a full rebuild commits each
    chunk); how many cases were recomputed. Everything again when the timezone or the time
    limits changed, or the last full build is REBUILD_HOURS old."""
    session, now = uow.session, now or utcnow()
    stamp = limits_stamp(session)
    state = session.get(CaseFactsState, STATE_ID)
    if (state is None or state.tz != tz or state.limits_stamp != stamp
            or now - state.built_at > timedelta(hours=REBUILD_HOURS)):
        _rebuild(uow, tz, stamp, now)
        return session.execute(select(func.count()).select_from(CaseFact)).scalar()
    newest = _newest_ids(session)
    changed = sorted(_changed_since(session, state.case_id, state.event_id, state.rating_id))
    _store(session, changed, tz, now)
    # complete up to what the previous refresh saw (see the module's docstring)
    state.case_id, state.event_id, state.rating_id = (
        state.seen_case_id, state.seen_event_id, state.seen_rating_id)
    state.seen_case_id, state.seen_event_id, state.seen_rating_id = newest
    state.refreshed_at = now
    return len(changed)


def refreshed_at(uow) -> datetime | None:
    state = uow.session.get(CaseFactsState, STATE_ID)
    return state.refreshed_at if state is not None else None


def _stored_counts(session, day_from: date, day_to: date, grid_ids, pending: set[int],
                   now: datetime, groups=_GROUPS) -> dict[str, Counter]:
    """The tallies of ``stats.tally`` in three GROUP BY queries over the period's facts
    (one index range, ix_case_facts_covering): the breakdowns that share few distinct
    values are grouped together and split here, so no query returns one row per case."""
    where = [CaseFact.day >= day_from, CaseFact.day <= day_to]
    if grid_ids is not None:
        where.append(CaseFact.grid_id.in_(sorted(grid_ids) or [-1]))
    if pending:
        where.append(CaseFact.case_id.notin_(sorted(pending)))
    due = case((and_(CaseFact.ack_due.is_not(None), CaseFact.ack_due < now), 1), else_=0)
    counts: dict[str, Counter] = {name: Counter() for names in groups for name in names}
    for names in groups:
        columns = [_COLUMNS[name] for name in names]
        for *keys, bits, passed, times in session.execute(
                select(*columns, CaseFact.mask, due, func.count()).where(*where)
                .group_by(*columns, CaseFact.mask, due)):
            bits = bits | DUE_BIT if passed else bits
            for name, key in zip(names, keys):
                counts[name][key, bits] += times
    return counts


def _counts(uow, date_from: date, date_to: date, tz: str, grid_ids, now: datetime,
            groups) -> dict[str, Counter] | None:
    """The tallies of these breakdowns: stored, the pending cases counted live; None when
    the stored facts cannot be trusted."""
    session = uow.session
    state = session.get(CaseFactsState, STATE_ID)
    if state is None or state.tz != tz or state.limits_stamp != limits_stamp(session):
        return None
    pending = _changed_since(session, state.case_id, state.event_id, state.rating_id,
                             limit=MAX_PENDING)
    if len(pending) > MAX_PENDING:
        return None
    counts = _stored_counts(session, date_from, date_to, grid_ids, pending, now, groups)
    if pending:
        cohort = stats.cohort(date_from, date_to, tz, grid_ids)
        live = stats.read_facts(session, [*cohort, Case.id.in_(sorted(pending))], tz, now)
        for name, tally in stats.tally(live.values()).items():
            if name in counts:
                counts[name].update(tally)
    return counts


def report(uow, date_from: date, date_to: date, tz: str, grid_ids: set[int] | None = None,
           now: datetime | None = None) -> stats.Report | None:
    """``stats.report`` from the stored facts, the same figures; None when they cannot be
    trusted (then count live)."""
    counts = _counts(uow, date_from, date_to, tz, grid_ids, now or utcnow(), _GROUPS)
    return None if counts is None else stats.assemble(uow.session, date_from, date_to, counts)


def overall(uow, date_from: date, date_to: date, tz: str, grid_ids: set[int] | None = None,
            now: datetime | None = None) -> stats.Row | None:
    """The report's ``overall`` row alone (one GROUP BY: the KPI cards' previous period)."""
    counts = _counts(uow, date_from, date_to, tz, grid_ids, now or utcnow(), (("category",),))
    if counts is None:
        return None
    row = stats.Row("all", "全部")
    for (_category, bits), times in counts["category"].items():
        row.add_mask(bits, times)
    return row
