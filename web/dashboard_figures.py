"""The dashboard's figures as plain data: KPI cards against target and previous period, the
chart series (passed to web/static/dashboard.js as JSON), the grid map as GeoJSON, and the
link of every figure to the filtered case desk (/cases?…).

Every count comes from ``minsheng.services.stats``; this module only shapes it.
"""
from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from minsheng.enums import GridLevel
from minsheng.models import Case, Grid, Staff
from minsheng.services import stats
from minsheng.services.queries import overdue_condition
from minsheng.services.stats import Report, Row

DAILY_UP_TO = 92  # longer periods are drawn by month
NEAR_TARGET = 0.05  # amber within 5 percentage points below the target
# (id, label, rate name or count name, is a rate)
KPIS = (("m-accepted", "受理", "accepted", False), ("m-resolved", "办结", "resolved", False),
        ("m-closure", "办结率", "closure_rate", True),
        ("m-satisfaction", "满意度", "satisfaction_rate", True),
        ("m-ontime", "按时办结率", "on_time_rate", True))


def cases_link(start: date, end: date, **filters) -> str:
    """The case desk filtered like the figure: the period's accepted cases plus filters, on
    the desk's 全部 tab (view=all; a grid login's desk otherwise opens on 我的待办)."""
    params = {"view": "all", "from": start.isoformat(), "to": end.isoformat(),
              **{k: v for k, v in filters.items() if v is not None}}
    return "/cases?" + urlencode(params)


def _value(row: Row, name: str, is_rate: bool):
    return row.rate(name) if is_rate else getattr(row, name)


def _status(value: float | None, target: float | None) -> str:
    if value is None or target is None:
        return "neutral"
    if value >= target:
        return "good"
    return "warn" if value >= target - NEAR_TARGET else "bad"


def _delta(now, before, is_rate: bool) -> tuple[str, str]:
    """(direction, words) of the change against the previous period."""
    if now is None or before is None:
        return "flat", "上期无数据"
    diff = now - before
    shown = f"{abs(diff) * 100:.1f} 个百分点" if is_rate else f"{abs(diff)} 件"
    if round(diff, 4) == 0:
        return "flat", "与上期持平"
    return ("up", f"▲ {shown}（较上期）") if diff > 0 else ("down", f"▼ {shown}（较上期）")


def kpi_cards(current: Row, previous: Row, targets: dict[str, float], link: str) -> list[dict]:
    cards = []
    for card_id, label, name, is_rate in KPIS:
        now, before = _value(current, name, is_rate), _value(previous, name, is_rate)
        direction, words = _delta(now, before, is_rate)
        target = targets.get(name) if is_rate else None
        cards.append({"id": card_id, "label": label, "value": now, "is_rate": is_rate,
                      "direction": direction, "delta": words, "target": target,
                      "status": _status(now, target), "href": link})
    return cards


def trend(report: Report, start: date, end: date) -> dict:
    """受理 and 办结 per day (per month beyond DAILY_UP_TO days), each point linked."""
    if (end - start).days + 1 <= DAILY_UP_TO:
        seen = {r.key: r for r in report.by_day}
        days = [date.fromordinal(n) for n in range(start.toordinal(), end.toordinal() + 1)]
        points = [(f"{d:%m-%d}", getattr(seen.get(d.isoformat()), "accepted", 0),
                   getattr(seen.get(d.isoformat()), "resolved", 0), cases_link(d, d))
                  for d in days]
        unit = "日"
    else:
        points = [(r.key, r.accepted, r.resolved, cases_link(*_month_bounds(r.key, start, end)))
                  for r in report.by_month]
        unit = "月"
    return {"unit": unit, "labels": [p[0] for p in points],
            "accepted": [p[1] for p in points], "resolved": [p[2] for p in points],
            "hrefs": [p[3] for p in points]}


def _month_bounds(month: str, start: date, end: date) -> tuple[date, date]:
    year, number = (int(x) for x in month.split("-"))
    first = date(year, number, 1)
    following = date(year + number // 12, number % 12 + 1, 1)
    return max(first, start), min(date.fromordinal(following.toordinal() - 1), end)


def breakdown(rows: list[Row], start: date, end: date, param: str,
              value: str = "accepted") -> list[dict]:
    return [{"name": r.label, "value": getattr(r, value), "href": cases_link(
        start, end, **{param: r.key})} for r in rows if r.key != stats.NO_HANDLING]


def staff_ranking(unit, report: Report, limit: int = 10) -> list[dict]:
    """Staff by cases 办结 in the period, then 按时办结率 (the current handler counts)."""
    names = dict(unit.session.execute(select(Staff.id, Staff.public_name)).all())
    ranked = sorted(report.by_staff,
                    key=lambda r: (-r.resolved, -(r.on_time_rate or 0), int(r.key)))
    return [{"label": names.get(int(r.key), r.key), "accepted": r.accepted,
             "resolved": r.resolved, "closure_rate": r.closure_rate,
             "on_time_rate": r.on_time_rate, "satisfaction": r.satisfaction}
            for r in ranked[:limit]]


def grid_map(unit, report: Report, overdue: dict, scope_ids, start: date, end: date) -> dict:
    """The grid-level nodes the user may see, drawn from their polygons ([[lat, lon], …])
    as GeoJSON, each with its 受理 (micro-grids counted with their grid) and 超时 now."""
    grids = unit.session.execute(select(Grid)).scalars().all()
    by_id = {g.id: g for g in grids}
    overdue_by_code: dict[str, int] = {}
    for grid_id, count in overdue.items():
        node = by_id.get(grid_id)
        if node is not None and GridLevel(node.level) == GridLevel.micro_grid:
            node = by_id.get(node.parent_id)
        if node is not None:
            overdue_by_code[node.code] = overdue_by_code.get(node.code, 0) + count
    accepted = {r.key: r.accepted for r in report.units.get("grid", [])}
    features, data = [], []
    for g in sorted(grids, key=lambda g: g.code):
        if GridLevel(g.level) != GridLevel.grid or not g.polygon or len(g.polygon) < 3:
            continue
        if scope_ids is not None and g.id not in scope_ids:
            continue
        ring = [[float(lon), float(lat)] for lat, lon in g.polygon]
        ring.append(ring[0])
        features.append({"type": "Feature", "properties": {"name": g.name},
                         "geometry": {"type": "Polygon", "coordinates": [ring]}})
        data.append({"name": g.name, "accepted": accepted.get(g.code, 0),
                     "overdue": overdue_by_code.get(g.code, 0),
                     "href": cases_link(start, end, grid=g.code)})
    return {"geo": {"type": "FeatureCollection", "features": features}, "data": data}


def overdue_list(unit, scope, now, limit: int = 20) -> tuple[list[Case], int]:
    """The longest-overdue cases the user may see, and how many there are. The open cases
    past a deadline are few, so they are read by the state index and the scope is applied
    here: a scope in SQL makes planners walk every case of the grid instead."""
    found = unit.session.execute(
        select(Case.id, Case.grid_id).where(overdue_condition(now))
        .order_by(Case.resolve_deadline, Case.id)).all()
    mine = [case_id for case_id, grid_id in found
            if scope.allows(grid_id) or case_id in scope.case_ids]
    rows = unit.session.execute(
        select(Case).where(Case.id.in_(mine[:limit]) if mine else Case.id.is_(None))
        .options(selectinload(Case.grid), selectinload(Case.assignee))
        .order_by(Case.resolve_deadline, Case.id)).scalars().all()
    return list(rows), len(mine)
