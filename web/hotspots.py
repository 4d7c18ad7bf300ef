"""The 热点问题 page: the hot-spot list on a page of its own (the dashboard includes the
same partial, web/templates/_hotspots.html); the data comes from GET /api/hotspots.

``current`` is what both show: the scheduler's newest snapshot (services/hotspot_snapshots.py)
cut to the login's part of the tree, or — for another window, or when the scheduler has
not taken one lately — the hot spots grouped here, kept in the console's one cache
(web/report_cache.py).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request

from minsheng.clock import utcnow
from minsheng.services import hotspot_snapshots, hotspots
from web import report_cache
from web.deps import CurrentUser, render

router = APIRouter(include_in_schema=False)
# A longer window is no longer a hot spot, and each one costs seconds to group.
MAX_DAYS = 90
# A snapshot older than this many scan intervals means the scheduler is not running.
STALE_SCANS = 3


def params(settings, days: int | None) -> hotspots.Params:
    return hotspots.Params.from_settings(settings, days)


def current(app, unit, scope, days: int | None) -> tuple[list[hotspots.Hotspot], datetime]:
    """(hot spots the login may see, when they were found)."""
    settings, now = app.state.settings, utcnow()
    wanted = params(settings, days)
    cache = report_cache.for_app(app)
    ids = None if scope.grid_ids is None else frozenset(scope.grid_ids)
    snap = hotspot_snapshots.newest(
        unit, wanted, now, timedelta(minutes=STALE_SCANS * settings.hotspot_scan_minutes))
    if snap is not None:  # read and cut once per snapshot and scope
        snap_id, taken = snap
        return cache.get(unit, ("hotspot-snapshot", snap_id, ids), lambda: hotspot_snapshots.load(
            unit, snap_id, wanted).visible(unit.session, scope.grid_ids)), taken
    return cache.get(unit, ("hotspots", wanted, ids), lambda: (
        hotspots.find(unit, now, wanted, grid_ids=scope.grid_ids), now))


@router.get("/hotspots")
def hotspots_page(request: Request, _user: CurrentUser,
                  days: Annotated[int | None, Query(ge=1, le=MAX_DAYS)] = None):
    return render(request, "hotspots.html", hotspot_days=days)
