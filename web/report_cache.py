"""The console's one cache of counted figures: the 7621 report (dashboard, /api/stats, the
CSV and XLSX exports), the previous period's KPI counts and the hot spots counted live
(a window other than the scheduler's snapshot). A wall screen or a second look then does
not count again.

An entry is used only while the data it was counted from is unchanged — every change to a
case writes a ``CaseEvent`` (the lifecycle's audit trail) and every rating a
``CaseRating``, so the highest ids of both (and of ``cases``) are its stamp — and for at most
``ttl`` seconds: the 响应率's denominator moves with the clock (a 签收 deadline passes), and
the grid tree's names are not stamped.

The report itself comes from the stored facts (services/stats_rollup.py) when they can be
trusted, else it is counted live: the same figures either way.
"""
from __future__ import annotations

import threading
import time
from datetime import date

from sqlalchemy import func, select

from minsheng.models import Case, CaseEvent, CaseRating
from minsheng.services import stats, stats_rollup

TTL_SECONDS = 60.0
SIZE = 64


class ReportCache:
    def __init__(self, ttl: float = TTL_SECONDS, size: int = SIZE):
        self.ttl, self.size = ttl, size
        self._entries: dict[tuple, tuple[tuple, float, object]] = {}
        self._lock = threading.Lock()

    def report(self, unit, start: date, end: date, tz: str,
               grid_ids: set[int] | None) -> stats.Report:
        return self.get(unit, ("report", start, end, tz, _ids(grid_ids)),
                        lambda: count_report(unit, start, end, tz, grid_ids))

    def overall(self, unit, start: date, end: date, tz: str,
                grid_ids: set[int] | None) -> stats.Row:
        """The period's 受理 / 办结 / 按时 / 评价 counts (the KPI cards' previous period):
        from the stored facts, else one GROUP BY query (no events read)."""
        def compute() -> stats.Row:
            stored = stats_rollup.overall(unit, start, end, tz, grid_ids)
            if stored is not None:
                return stored
            rows = stats.case_rows(unit, start, end, tz, grid_ids)
            return rows.get(None) or stats.Row("all", "全部")
        return self.get(unit, ("overall", start, end, tz, _ids(grid_ids)), compute)

    def get(self, unit, key: tuple, compute):
        """The cached value of ``key`` while the stamp holds and younger than ttl, else
        ``compute()`` (stored)."""
        stamp = self.stamp(unit.session)
        with self._lock:
            hit = self._entries.get(key)
        if hit and hit[0] == stamp and time.monotonic() - hit[1] < self.ttl:
            return hit[2]
        value = compute()
        with self._lock:
            self._entries[key] = (stamp, time.monotonic(), value)
            while len(self._entries) > self.size:  # drop the oldest
                self._entries.pop(min(self._entries, key=lambda k: self._entries[k][1]))
        return value

    @staticmethod
    def stamp(session) -> tuple:
        """Three index look-ups: the newest case, event and rating."""
        return session.execute(select(
            select(func.max(Case.id)).scalar_subquery(),
            select(func.max(CaseEvent.id)).scalar_subquery(),
            select(func.max(CaseRating.id)).scalar_subquery())).one()


def count_report(unit, start: date, end: date, tz: str, grid_ids: set[int] | None):
    """From the stored facts when they can be trusted, else counted live."""
    return (stats_rollup.report(unit, start, end, tz, grid_ids)
            or stats.report(unit, start, end, tz, grid_ids=grid_ids))


def _ids(grid_ids: set[int] | None):
    return None if grid_ids is None else frozenset(grid_ids)


def for_app(app) -> ReportCache:
    cache = getattr(app.state, "report_cache", None)
    if cache is None:
        cache = app.state.report_cache = ReportCache()
    return cache
