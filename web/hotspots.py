"""The 热点问题 page: the hot-spot list on a page of its own (the dashboard includes the
same partial, web/templates/_hotspots.html); the data comes from GET /api/hotspots."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from web.deps import CurrentUser, render

router = APIRouter(include_in_schema=False)


@router.get("/hotspots")
def hotspots_page(request: Request, _user: CurrentUser,
                  days: Annotated[int | None, Query(ge=1, le=366)] = None):
    return render(request, "hotspots.html", hotspot_days=days)
