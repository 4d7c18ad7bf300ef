"""The 热点问题 page: the hot-spot list on a page of its own (the dashboard includes the
same partial, web/templates/_hotspots.html); the data comes from GET /api/hotspots.

``recent`` keeps each scope's list for CACHE_SECONDS: grouping a district's month of
cases takes seconds (docs/hotspots.md), and a wall dashboard reloads far more often than
hot spots change.
"""
from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request

from web.deps import CurrentUser, render

router = APIRouter(include_in_schema=False)
CACHE_SECONDS = 120.0
# A longer window is no longer a hot spot, and each one costs seconds to group.
MAX_DAYS = 90
CACHE_ENTRIES = 64


def recent(app, key: tuple, compute):
    """``compute()``, or its result for the same key from the last CACHE_SECONDS."""
    cache: dict | None = getattr(app.state, "hotspot_cache", None)
    if cache is None:
        cache = app.state.hotspot_cache = {}
    hit = cache.get(key)
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        return hit[1]
    value = compute()
    if len(cache) >= CACHE_ENTRIES:
        cache.clear()
    cache[key] = (now + CACHE_SECONDS, value)
    return value


@router.get("/hotspots")
def hotspots_page(request: Request, _user: CurrentUser,
                  days: Annotated[int | None, Query(ge=1, le=MAX_DAYS)] = None):
    return render(request, "hotspots.html", hotspot_days=days)
