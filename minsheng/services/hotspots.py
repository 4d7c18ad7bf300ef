"""热点问题 (hot spots): repeated reports of one problem at one place, so that staff act on
the pattern before the next complaint (未诉先办).

The reports counted are the cases accepted in the window (withdrawn ones left out; a case
merged as a duplicate still counts, someone did report it) and the later reports attached
to an open case as 同一问题又有反映 (``follow`` events). They are grouped by category, place
and wording (services/hotspot_clusters.py); a group with at least ``min_reports`` reports
is a hot spot. Only the window is read, with the columns the grouping needs, and only in
the caller's part of the grid tree — the same scope rule as the statistics.

``previous`` counts the reports of the same category at the same place in the window
before (no wording compared), which gives the trend.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from minsheng.clock import DEFAULT_TIMEZONE, format_local
from minsheng.enums import CATEGORY_LABELS, CaseState, Category
from minsheng.models import Case, CaseEvent, Grid
from minsheng.places import normalize_xiaoqu

from .hotspot_clusters import DEFAULT_THRESHOLD, Report, cluster, metres
from .routing import estate_of_alias

TRENDS = {"up": "上升", "down": "下降", "flat": "持平", "new": "新出现"}


@dataclass(frozen=True)
class Params:
    window_days: int = 30
    min_reports: int = 2
    threshold: float = DEFAULT_THRESHOLD
    distance_m: float = 150.0

    @classmethod
    def from_settings(cls, settings, window_days: int | None = None) -> Params:
        if settings is None:
            return cls(window_days=window_days or cls.window_days)
        return cls(window_days=window_days or settings.hotspot_window_days,
                   min_reports=settings.hotspot_min_reports,
                   threshold=settings.hotspot_similarity,
                   distance_m=settings.hotspot_distance_m)


@dataclass
class _Item:
    """One case of the window and the moments it was reported (opened, then follow-ups)."""

    report: Report
    case_no: str
    address: str | None
    times: list[datetime] = field(default_factory=list)


@dataclass
class Hotspot:
    category: str
    place: str
    place_key: str  # with seed_case_id, what names this hot spot from one scan to the next
    seed_case_id: int  # its earliest case
    latest_case_id: int
    grid_id: int | None
    grid_code: str | None
    grid_name: str | None
    reports: int  # in the window: cases and follow-ups
    previous: int  # same category, same place, the window before
    weekly: list[int]  # reports per 7 days, oldest first, the last week ending now
    first_at: datetime
    last_at: datetime
    case_nos: list[str]  # newest first
    # per case, in case_nos' order: (grid id, the times it was reported in the window) — what
    # a snapshot needs to show a login only its part of the tree (hotspot_snapshots.py)
    members: list[tuple[int | None, list[datetime]]] = field(default_factory=list, repr=False)

    @property
    def key(self) -> str:
        return f"{self.category}|{self.place_key}|{self.seed_case_id}"

    @property
    def trend(self) -> str:
        if self.previous == 0:
            return "new"
        if self.reports == self.previous:
            return "flat"
        return "up" if self.reports > self.previous else "down"


def _scope(grid_ids: set[int] | None) -> list:
    where = [Case.state != CaseState.withdrawn]
    if grid_ids is not None:
        where.append(Case.grid_id.in_(sorted(grid_ids) or [-1]))
    return where


_COLUMNS = (Case.id, Case.case_no, Case.category, Case.description, Case.xiaoqu, Case.building,
            Case.lat, Case.lon, Case.grid_id, Case.accepted_at, Case.address)


class _Aliases:
    """The estates that the grid table's aliases name ('老纺织宿舍=幸福里小区'): a report at
    an alias is at that estate, as routing has it (routing.estate_of_alias)."""

    def __init__(self, grids: dict[int, Grid]) -> None:
        self._estates = estate_of_alias(list(grids.values()))

    def report(self, key: int, category: str, text: str, xiaoqu: str | None,
               building: str | None, lat=None, lon=None, grid_id=None) -> Report:
        alias_of = self._estates.get(normalize_xiaoqu(xiaoqu)) if xiaoqu else None
        return Report(key, category, text, xiaoqu, building, lat, lon, grid_id, alias_of)


def _items(session, start: datetime, end: datetime, grid_ids, aliases: _Aliases) -> list[_Item]:
    """The cases accepted in the window, and older ones reported again in it (follow-ups);
    two indexed queries rather than one OR that would scan every case."""
    where = _scope(grid_ids)
    follows = session.execute(
        select(CaseEvent.case_id, CaseEvent.at).join(Case, Case.id == CaseEvent.case_id)
        .where(*where, CaseEvent.action == "follow", CaseEvent.at >= start,
               CaseEvent.at < end)).all()
    rows = session.execute(select(*_COLUMNS).where(
        *where, Case.accepted_at >= start, Case.accepted_at < end)).all()
    loaded = {row[0] for row in rows}
    older = sorted({case_id for case_id, _at in follows} - loaded)
    for chunk in range(0, len(older), 500):
        rows += session.execute(select(*_COLUMNS).where(
            Case.id.in_(older[chunk:chunk + 500]))).all()
    items = {}
    for (case_id, case_no, category, text, xiaoqu, building, lat, lon, grid_id, accepted,
         address) in rows:
        report = aliases.report(case_id, str(category), text, xiaoqu, building, lat, lon,
                                grid_id)
        times = [accepted] if start <= accepted < end else []
        items[case_id] = _Item(report, case_no, address, times)
    for case_id, at in follows:
        items[case_id].times.append(at)
    return list(items.values())


class _Previous:
    """Reports of the window before, by category and place, to compare with (the trend).
    Counted in SQL by category and 小区/楼栋 (or grid); only map locations come back one
    by one, to measure distances."""

    def __init__(self, session, start: datetime, end: datetime, grid_ids, distance_m: float,
                 aliases: _Aliases):
        self.distance_m = distance_m
        self.by_estate: Counter = Counter()
        self.by_grid: Counter = Counter()
        self.located: dict[str, list[Report]] = defaultdict(list)
        where = [*_scope(grid_ids), Case.accepted_at >= start, Case.accepted_at < end]
        placed = session.execute(
            select(Case.category, Case.xiaoqu, Case.building, func.count())
            .where(*where, Case.xiaoqu.is_not(None), Case.xiaoqu != "")
            .group_by(Case.category, Case.xiaoqu, Case.building))
        for category, xiaoqu, building, count in placed:
            r = aliases.report(0, str(category), "", xiaoqu, building)
            self.by_estate[r.category, r.estate, None] += count
            if r.building_key:
                self.by_estate[r.category, r.estate, r.building_key] += count
        unplaced = [*where, or_(Case.xiaoqu.is_(None), Case.xiaoqu == "")]
        for category, lat, lon in session.execute(
                select(Case.category, Case.lat, Case.lon)
                .where(*unplaced, Case.lat.is_not(None), Case.lon.is_not(None))):
            self.located[str(category)].append(Report(0, str(category), "", lat=lat, lon=lon))
        for category, grid_id, count in session.execute(
                select(Case.category, Case.grid_id, func.count())
                .where(*unplaced, or_(Case.lat.is_(None), Case.lon.is_(None)))
                .group_by(Case.category, Case.grid_id)):
            self.by_grid[str(category), grid_id] += count

    def count(self, members: list[Report], building: str | None) -> int:
        first = members[0]
        if first.estate:
            return self.by_estate[first.category, first.estate, building]
        if first.has_point:
            return sum(1 for r in self.located[first.category]
                       if any(metres(r, m) <= self.distance_m for m in members if m.has_point))
        return self.by_grid[first.category, first.grid_id]


def _place(members: list[_Item], grids: dict[int, Grid]) -> tuple[str, str, str | None]:
    """(label, key, building shared by all) of a group."""
    reports = [m.report for m in members]
    seed = min(reports, key=lambda r: r.key)
    estates = [r for r in reports if r.estate]
    if estates:
        # named as most reports name it, an estate's own name before its aliases
        named = [r for r in estates if not r.alias_of] or estates
        name = Counter(r.xiaoqu for r in named).most_common(1)[0][0]
        buildings = {r.building_key for r in estates}
        building = buildings.pop() if len(buildings) == 1 else None
        return f"{name}{building or ''}", f"estate:{estates[0].estate}", building
    if seed.has_point:
        address = Counter(m.address for m in members if m.address).most_common(1)
        label = address[0][0] if address else f"定位 {seed.lat:.4f}, {seed.lon:.4f} 附近"
        return label, f"point:{seed.lat:.4f},{seed.lon:.4f}", None
    grid = grids.get(seed.grid_id)
    return f"{grid.name if grid else '未分配网格'}（未写明小区）", f"grid:{seed.grid_id}", None


def weekly_counts(times: list[datetime], end: datetime, days: int) -> list[int]:
    weeks = max(1, -(-days // 7))
    counts = [0] * weeks
    for t in times:
        back = int((end - t).total_seconds() // (7 * 86400))
        if 0 <= back < weeks:
            counts[weeks - 1 - back] += 1
    return counts


def _hotspot(members: list[_Item], grids, previous: _Previous, end: datetime,
             days: int) -> Hotspot:
    label, key, building = _place(members, grids)
    times = sorted(t for m in members for t in m.times)
    grid_id = Counter(m.report.grid_id for m in members).most_common(1)[0][0]
    grid = grids.get(grid_id)
    newest = sorted(members, key=lambda m: max(m.times), reverse=True)
    return Hotspot(
        category=members[0].report.category, place=label, place_key=key,
        seed_case_id=min(m.report.key for m in members),
        latest_case_id=newest[0].report.key, grid_id=grid_id,
        grid_code=grid.code if grid else None, grid_name=grid.name if grid else None,
        reports=len(times), previous=previous.count([m.report for m in members], building),
        weekly=weekly_counts(times, end, days), first_at=times[0], last_at=times[-1],
        case_nos=[m.case_no for m in newest],
        members=[(m.report.grid_id, sorted(m.times)) for m in newest])


def find(uow, now: datetime, params: Params = Params(),
         grid_ids: set[int] | None = None) -> list[Hotspot]:
    """Hot spots of the ``window_days`` before ``now``, most reports first; ``grid_ids``
    limits the cases to those grid nodes (a login's part of the tree; None = all)."""
    session = uow.session
    start = now - timedelta(days=params.window_days)
    grids = {g.id: g for g in session.execute(select(Grid)).scalars()}
    aliases = _Aliases(grids)
    items = [i for i in _items(session, start, now, grid_ids, aliases) if i.times]
    groups = cluster([i.report for i in items], params.threshold, params.distance_m)
    groups = [[items[x] for x in g] for g in groups
              if sum(len(items[x].times) for x in g) >= params.min_reports]
    if not groups:
        return []
    previous = _Previous(session, start - timedelta(days=params.window_days), start,
                         grid_ids, params.distance_m, aliases)
    found = [_hotspot(g, grids, previous, now, params.window_days) for g in groups]
    return sorted(found, key=lambda h: (-h.reports, -h.last_at.timestamp(), h.seed_case_id))


def as_json(spot: Hotspot, tz: str = DEFAULT_TIMEZONE) -> dict:
    return {"key": spot.key, "category": spot.category,
            "category_label": CATEGORY_LABELS[Category(spot.category)],
            "place": spot.place, "grid_code": spot.grid_code, "grid_name": spot.grid_name,
            "reports": spot.reports, "cases": len(spot.case_nos),
            "previous": spot.previous, "trend": spot.trend,
            "trend_label": TRENDS[spot.trend], "weekly": spot.weekly,
            "first_at": spot.first_at.isoformat() + "Z",
            "last_at": spot.last_at.isoformat() + "Z",
            "first_at_local": format_local(spot.first_at, tz, "full"),
            "last_at_local": format_local(spot.last_at, tz, "full"),
            "case_nos": spot.case_nos}


def format_text(spots: list[Hotspot], days: int, tz: str = DEFAULT_TIMEZONE) -> str:
    """The CLI's list: one hot spot a line, then its case numbers."""
    if not spots:
        return f"近 {days} 天没有热点问题。\n"
    lines = [f"近 {days} 天热点问题 {len(spots)} 个（同一地点、同类、相近问题的多次反映）："]
    for n, s in enumerate(spots, start=1):
        lines.append(f"{n}. {s.place}｜{CATEGORY_LABELS[Category(s.category)]}｜"
                     f"{s.reports} 次反映（上期 {s.previous}，{TRENDS[s.trend]}）｜"
                     f"{format_local(s.first_at, tz)} 至 {format_local(s.last_at, tz)}｜"
                     f"{s.grid_name or '未分配网格'}")
        lines.append("   工单：" + "、".join(s.case_nos))
    return "\n".join(lines) + "\n"
