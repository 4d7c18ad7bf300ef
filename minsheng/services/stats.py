"""The 7621 report: 受理数, 办结数, 办结率, 满意度, 按时办结率 — exactly as DESIGN.md defines them.

    办结率     = resolved-or-closed / accepted   (accepted excludes withdrawn and merged)
    满意度     = (satisfied + basically_satisfied) / rated   (a case's latest rating counts)
    按时办结率 = resolved within the limit / resolved

One GROUP BY (category, grid, channel) query does the counting; the rows (a few hundred at
most) are rolled up here into the overall figure and the three breakdowns.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, case, func, select

from minsheng.clock import DEFAULT_TIMEZONE, utc_bounds
from minsheng.enums import (
    CATEGORY_LABELS,
    CHANNEL_LABELS,
    CaseState,
    Category,
    Channel,
    GridLevel,
    Rating,
)
from minsheng.models import Case, CaseRating, Grid

NOT_ACCEPTED = [CaseState.withdrawn, CaseState.merged]
DONE = [CaseState.resolved, CaseState.closed]
GOOD = [Rating.satisfied, Rating.basically_satisfied]


@dataclass
class Row:
    key: str
    label: str
    accepted: int = 0
    resolved: int = 0
    on_time: int = 0
    rated: int = 0
    satisfied: int = 0

    def add(self, other: Row) -> None:
        for name in ("accepted", "resolved", "on_time", "rated", "satisfied"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def closure_rate(self) -> float | None:
        return self.resolved / self.accepted if self.accepted else None

    @property
    def satisfaction(self) -> float | None:
        return self.satisfied / self.rated if self.rated else None

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.resolved if self.resolved else None


@dataclass
class Report:
    date_from: date
    date_to: date
    overall: Row
    by_category: list[Row] = field(default_factory=list)
    by_grid: list[Row] = field(default_factory=list)
    by_channel: list[Row] = field(default_factory=list)


def _count(condition):
    return func.sum(case((condition, 1), else_=0))


def _grid_groups(session) -> dict[int | None, tuple[str, str]]:
    """grid id → (code, name) of its grid-level node (a micro-grid counts with its grid)."""
    grids = {g.id: g for g in session.execute(select(Grid)).scalars()}
    groups: dict[int | None, tuple[str, str]] = {None: ("-", "未分配")}
    for grid in grids.values():
        node = grid
        if GridLevel(node.level) == GridLevel.micro_grid and node.parent_id in grids:
            node = grids[node.parent_id]
        groups[grid.id] = (node.code, node.name)
    return groups


def report(uow, date_from: date, date_to: date, tz: str = DEFAULT_TIMEZONE) -> Report:
    """Cases accepted on the local dates date_from..date_to (inclusive)."""
    session = uow.session
    start, end = utc_bounds(date_from, date_to, tz)
    latest = (select(CaseRating.case_id, func.max(CaseRating.id).label("rating_id"))
              .group_by(CaseRating.case_id).subquery())
    accepted = Case.state.notin_(NOT_ACCEPTED)
    done = and_(accepted, Case.state.in_(DONE))
    rated = and_(accepted, CaseRating.value.isnot(None))
    query = (
        select(Case.category, Case.grid_id, Case.channel, _count(accepted), _count(done),
               _count(and_(done, Case.resolved_on_time.is_(True))), _count(rated),
               _count(and_(rated, CaseRating.value.in_(GOOD))))
        .select_from(Case)
        .outerjoin(latest, latest.c.case_id == Case.id)
        .outerjoin(CaseRating, CaseRating.id == latest.c.rating_id)
        .where(Case.accepted_at >= start, Case.accepted_at < end)
        .group_by(Case.category, Case.grid_id, Case.channel))
    groups = _grid_groups(session)
    overall = Row("all", "全部")
    by_category = {c.value: Row(c.value, CATEGORY_LABELS[c]) for c in Category}
    by_channel = {c.value: Row(c.value, CHANNEL_LABELS[c]) for c in Channel}
    by_grid: dict[str, Row] = {}
    for category, grid_id, channel, *counts in session.execute(query):
        part = Row("", "", *(int(n or 0) for n in counts))
        overall.add(part)
        by_category[str(category)].add(part)
        by_channel[str(channel)].add(part)
        code, name = groups.get(grid_id, groups[None])
        by_grid.setdefault(code, Row(code, name)).add(part)
    return Report(date_from, date_to, overall, list(by_category.values()),
                  sorted(by_grid.values(), key=lambda r: r.key), list(by_channel.values()))


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def headline(row: Row) -> str:
    return (f"受理 {row.accepted} 件，办结 {row.resolved} 件，办结率 {pct(row.closure_rate)}，"
            f"满意度 {pct(row.satisfaction)}，按时办结率 {pct(row.on_time_rate)}")


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    gap = " " * max(width - _width(text), 0)
    return gap + text if right else text + gap


def _table(title: str, rows: list[Row]) -> list[str]:
    header = ["受理", "办结", "办结率", "满意度", "按时办结率"]
    label_width = max([_width(r.label) for r in rows] + [8]) + 2
    lines = [f"【{title}】", _pad("", label_width) + "".join(_pad(h, 11, True) for h in header)]
    for r in rows:
        cells = [str(r.accepted), str(r.resolved), pct(r.closure_rate), pct(r.satisfaction),
                 pct(r.on_time_rate)]
        lines.append(_pad(r.label, label_width) + "".join(_pad(c, 11, True) for c in cells))
    return lines


def format_report(rep: Report) -> str:
    lines = [f"民生说事 7621 受理处置统计（{rep.date_from:%Y-%m-%d} 至 {rep.date_to:%Y-%m-%d}）",
             headline(rep.overall), ""]
    for title, rows in (("按类别", rep.by_category), ("按网格", rep.by_grid),
                        ("按渠道", rep.by_channel)):
        lines += _table(title, rows) + [""]
    return "\n".join(lines).rstrip() + "\n"


def _row_json(row: Row) -> dict:
    def rate(value):
        return None if value is None else round(value, 4)

    return {"key": row.key, "label": row.label, "accepted": row.accepted,
            "resolved": row.resolved, "on_time": row.on_time, "rated": row.rated,
            "satisfied": row.satisfied, "closure_rate": rate(row.closure_rate),
            "satisfaction": rate(row.satisfaction), "on_time_rate": rate(row.on_time_rate)}


def report_json(rep: Report) -> dict:
    """A JSON-able dict; rates are fractions (0.988), None when there is nothing to divide."""
    return {"from": rep.date_from.isoformat(), "to": rep.date_to.isoformat(),
            "headline": headline(rep.overall), "overall": _row_json(rep.overall),
            "by_category": [_row_json(r) for r in rep.by_category],
            "by_grid": [_row_json(r) for r in rep.by_grid],
            "by_channel": [_row_json(r) for r in rep.by_channel]}
