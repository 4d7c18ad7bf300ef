# ruff: noqa: B008  (FastAPI declares dependencies and form fields as call defaults)
"""Dashboard: 受理 / 办结 / 办结率 / 满意度 / 按时办结率 for a period, by category, grid and
channel; the 接诉即办 rates with street/community/grid rankings; a trend chart; the overdue
list; the 7621 report; CSV and XLSX export.

Every number comes from ``minsheng.services.stats.report`` — the same as ``minsheng report``
— limited to the user's part of the grid tree (an admin sees all, a street login its
street, a grid login its grid): the page, the exports and /api/stats alike.
"""
from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from minsheng.clock import to_local, utcnow
from minsheng.db import UnitOfWork
from minsheng.services import stats
from minsheng.users import UserView
from web import queries
from web.deps import Scope, current_user, render, uow, user_scope

router = APIRouter(prefix="/dashboard", include_in_schema=False)
DEFAULT_DAYS = 30
MAX_BUCKETS = 12
DIMENSIONS = (("by_category", "按类别"), ("by_grid", "按网格"), ("by_channel", "按渠道"))
COLUMNS = ("accepted", "resolved", "closure_rate", "satisfaction", "on_time_rate")
HEADERS = ("受理", "办结", "办结率", "满意度", "按时办结率")
RATE_COLUMNS = tuple(stats.NEW_RATES)
RATE_HEADERS = tuple(stats.RATES[name][0] for name in stats.NEW_RATES)
RANK_LEVELS = (("street", "街道"), ("community", "社区"), ("grid", "网格"), ("month", "月份"))


def default_period(date_from: date | None, date_to: date | None, tz: str) -> tuple[date, date]:
    """The last 30 local days unless given."""
    end = date_to or to_local(utcnow(), tz).date()
    return (date_from or end - timedelta(days=DEFAULT_DAYS - 1)), end


def report_data(unit: UnitOfWork, start: date, end: date, tz: str,
                scope: Scope | None = None) -> dict:
    """The report for [start, end] as the CLI has it: object, printed text, JSON dict —
    only the cases of the scope's grid nodes when a scope is given."""
    grid_ids = scope.grid_ids if scope is not None else None
    report = stats.report(unit, start, end, tz, grid_ids=grid_ids)
    return {"report": report, "text": stats.format_report(report),
            "json": stats.report_json(report)}


def table_rows(data: dict, dimension: str) -> list[dict]:
    """Rows of one breakdown of the JSON report: {key, label, accepted, …}."""
    return list(data.get(dimension) or [])


def trend(unit: UnitOfWork, start: date, end: date, tz: str,
          scope: Scope | None = None) -> list[dict]:
    """受理 and 办结 per bucket (≤ 12 buckets), each bucket one ``stats.report`` call."""
    days = (end - start).days + 1
    size = max(1, -(-days // MAX_BUCKETS))
    buckets, cursor = [], start
    while cursor <= end:
        last = min(end, cursor + timedelta(days=size - 1))
        overall = stats.report(unit, cursor, last, tz,
                               grid_ids=scope.grid_ids if scope else None).overall
        buckets.append({"start": cursor, "end": last, "accepted": overall.accepted,
                        "resolved": overall.resolved})
        cursor = last + timedelta(days=1)
    return buckets


def chart_svg(buckets: list[dict]) -> dict:
    """Geometry for the inline SVG bar chart (no script needed)."""
    width, height, pad = 720, 220, 30
    top = max([max(b["accepted"], b["resolved"]) for b in buckets] + [1])
    slot = (width - 2 * pad) / max(len(buckets), 1)
    bars = []
    for i, b in enumerate(buckets):
        x = pad + i * slot
        for j, key in enumerate(("accepted", "resolved")):
            h = (height - 2 * pad) * b[key] / top
            bars.append({"x": round(x + 4 + j * (slot - 8) / 2, 1), "y": round(height - pad - h, 1),
                         "w": round((slot - 8) / 2 - 2, 1), "h": round(h, 1), "key": key,
                         "value": b[key]})
    labels = [{"x": round(pad + i * slot + slot / 2, 1), "text": b["start"].strftime("%m-%d")}
              for i, b in enumerate(buckets)]
    return {"width": width, "height": height, "pad": pad, "top": top, "bars": bars,
            "labels": labels}


def period(date_from, date_to, tz: str) -> tuple[date, date]:
    start, end = default_period(date_from, date_to, tz)
    if start > end:
        raise HTTPException(400, "开始日期不能晚于结束日期")
    if (end - start).days > 3660:
        raise HTTPException(400, "统计区间不能超过十年")
    return start, end


@router.get("")
def dashboard(request: Request, date_from: date | None = Query(None, alias="from"),
              date_to: date | None = Query(None, alias="to"),
              _user: UserView = Depends(current_user), scope: Scope = Depends(user_scope),
              unit: UnitOfWork = Depends(uow)):
    tz = request.app.state.settings.timezone
    start, end = period(date_from, date_to, tz)
    data = report_data(unit, start, end, tz, scope)
    overdue, overdue_total = queries.list_cases(
        unit.session, scope, queries.CaseFilter(overdue=True), utcnow())
    buckets = trend(unit, start, end, tz, scope)
    return render(request, "dashboard.html", start=start, end=end, data=data["json"],
                  text=data["text"], tables=[(label, table_rows(data["json"], key))
                                             for key, label in DIMENSIONS],
                  headers=HEADERS, rate_columns=RATE_COLUMNS, rate_headers=RATE_HEADERS,
                  rankings=[(label, data["json"]["ranking"][key]) for key, label in RANK_LEVELS],
                  methods=data["json"]["by_handling_method"], overdue=overdue, overdue_total=overdue_total,
                  chart=chart_svg(buckets), buckets=buckets)


def export_rows(data: dict) -> list[list]:
    """One table: the older columns, then the 接诉即办 rates and the unit's rank."""
    extra = [c for c in RATE_COLUMNS if c not in ("on_time_rate", "satisfaction_rate")]
    rows = [["维度", "项目", *HEADERS, *[stats.RATES[c][0] for c in extra], "排名"]]

    def line(dimension: str, row: dict) -> list:
        return [dimension, row["label"], *[row[c] for c in COLUMNS],
                *[row[c] for c in extra], row.get("rank")]

    rows.append(line("合计", data["overall"]))
    for key, label in DIMENSIONS:
        rows += [line(label, row) for row in table_rows(data, key)]
    rows += [line("处理方式", row) for row in data["by_handling_method"].values()]
    for key, label in RANK_LEVELS:
        rows += [line(f"{label}排名", row) for row in data["ranking"][key]]
    return rows


@router.get("/export.{fmt}")
def export(request: Request, fmt: str, date_from: date | None = Query(None, alias="from"),
           date_to: date | None = Query(None, alias="to"),
           _user: UserView = Depends(current_user), scope: Scope = Depends(user_scope),
           unit: UnitOfWork = Depends(uow)):
    tz = request.app.state.settings.timezone
    start, end = period(date_from, date_to, tz)
    rows = export_rows(report_data(unit, start, end, tz, scope)["json"])
    name = f"minsheng-report-{start:%Y%m%d}-{end:%Y%m%d}"
    if fmt == "csv":
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        return Response("\ufeff" + buffer.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.title = "7621统计"
        sheet.append([f"统计区间 {start:%Y-%m-%d} 至 {end:%Y-%m-%d}"])
        for row in rows:
            sheet.append(row)
        out = io.BytesIO()
        book.save(out)
        return Response(out.getvalue(), headers={
            "Content-Disposition": f'attachment; filename="{name}.xlsx"'},
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    raise HTTPException(404, "只支持 csv 和 xlsx")
