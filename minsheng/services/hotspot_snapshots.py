"""热点问题 as the scheduler last found them: grouping a district's month of cases takes
seconds (docs/hotspots.md), so the scheduler finds the hot spots of the whole grid tree every
``hotspot_scan_minutes``, stores them here, and raises its alerts from the same run; pages and
/api/hotspots read the newest snapshot and show when it was taken.

A login sees the snapshot cut to its part of the tree: the cases of a hot spot outside it
are left out and its reports counted again from the rest (a hot spot left with fewer than
``min_reports`` is not shown). The trend's previous window stays the whole place's.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from minsheng.models import Grid, HotspotSnapshot

from . import hotspots

KEEP = 3  # snapshots kept (the newest is read; the others only show the history)
_TIMES = ("first_at", "last_at")


def _encode(spot: hotspots.Hotspot) -> dict:
    row = {f.name: getattr(spot, f.name) for f in fields(spot)
           if f.name not in (*_TIMES, "members")}
    return {**row, **{name: getattr(spot, name).isoformat() for name in _TIMES},
            "members": [[grid_id, [t.isoformat() for t in times]]
                        for grid_id, times in spot.members]}


def _decode(item: dict) -> hotspots.Hotspot:
    values = {**item, **{name: datetime.fromisoformat(item[name]) for name in _TIMES}}
    values["members"] = [(grid_id, [datetime.fromisoformat(t) for t in times])
                         for grid_id, times in item["members"]]
    return hotspots.Hotspot(**values)


def take(uow, now: datetime, params: hotspots.Params) -> list[hotspots.Hotspot]:
    """Find the whole tree's hot spots and store them (the caller commits)."""
    session = uow.session
    spots = hotspots.find(uow, now, params)
    session.add(HotspotSnapshot(computed_at=now, window_days=params.window_days,
                                params=asdict(params), items=[_encode(s) for s in spots]))
    session.flush()
    old = session.execute(select(HotspotSnapshot.id).order_by(
        HotspotSnapshot.computed_at.desc(), HotspotSnapshot.id.desc()).offset(KEEP)).scalars()
    session.execute(delete(HotspotSnapshot).where(HotspotSnapshot.id.in_(list(old))))
    return spots


@dataclass
class Snapshot:
    computed_at: datetime
    params: hotspots.Params
    spots: list[hotspots.Hotspot]

    def visible(self, session, grid_ids: set[int] | None) -> list[hotspots.Hotspot]:
        """The hot spots as a login with these grid nodes sees them (None: all)."""
        if grid_ids is None:
            return list(self.spots)
        cut = [_cut(s, grid_ids, self) for s in self.spots]
        shown = [s for s in cut if s is not None]
        names = {g.id: g for g in session.execute(select(Grid).where(
            Grid.id.in_({s.grid_id for s in shown if s.grid_id is not None}))).scalars()}
        return sorted((_named(s, names) for s in shown),
                      key=lambda h: (-h.reports, -h.last_at.timestamp(), h.seed_case_id))


def _cut(spot: hotspots.Hotspot, grid_ids: set[int],
         snap: Snapshot) -> hotspots.Hotspot | None:
    mine = [(no, grid_id, times) for no, (grid_id, times) in zip(spot.case_nos, spot.members)
            if grid_id in grid_ids]
    if len(mine) == len(spot.case_nos):
        return spot
    times = sorted(t for _no, _grid, ts in mine for t in ts)
    if len(times) < snap.params.min_reports:
        return None
    grid_id = Counter(g for _no, g, _ts in mine).most_common(1)[0][0]
    return replace(spot, grid_id=grid_id, reports=len(times), first_at=times[0],
                   last_at=times[-1], case_nos=[no for no, _g, _ts in mine],
                   members=[(g, ts) for _no, g, ts in mine],
                   weekly=hotspots.weekly_counts(times, snap.computed_at, snap.params.window_days))


def _named(spot: hotspots.Hotspot, grids: dict[int, Grid]) -> hotspots.Hotspot:
    grid = grids.get(spot.grid_id)
    return replace(spot, grid_code=grid.code if grid else None,
                   grid_name=grid.name if grid else None)


def newest(uow, params: hotspots.Params, now: datetime,
           max_age: timedelta) -> tuple[int, datetime] | None:
    """(id, time) of the newest snapshot taken with these parameters no longer than max_age
    ago; its hot spots are read with ``load`` (the caller may keep them by id)."""
    row = uow.session.execute(
        select(HotspotSnapshot.id, HotspotSnapshot.computed_at, HotspotSnapshot.params)
        .where(HotspotSnapshot.computed_at >= now - max_age)
        .order_by(HotspotSnapshot.computed_at.desc(), HotspotSnapshot.id.desc()).limit(1)
    ).first()
    if row is None or row.params != asdict(params):
        return None
    return row.id, row.computed_at


def load(uow, snapshot_id: int, params: hotspots.Params) -> Snapshot:
    row = uow.session.get(HotspotSnapshot, snapshot_id)
    return Snapshot(row.computed_at, params, [_decode(item) for item in row.items])
