# ruff: noqa: B008  (FastAPI declares dependencies and form fields as call defaults)
"""Dashboard: KPI cards (受理 / 办结 / 办结率 / 满意度 / 按时办结率) against their targets and
the previous period; ECharts figures (trend, category, channel, handling, the grid map) that
link to the filtered case desk; the 接诉即办 rates with rankings (units and staff); the
overdue list; the 7621 report as one table; CSV and XLSX export. A period the form cannot
show comes back as the form with the reason (422), not an error page.

Every number comes from ``minsheng.services.stats.report`` — the same as ``minsheng report``
(read from the stored facts of services/stats_rollup.py when they are up to date, through
the one cache of web/report_cache.py) — limited to the user's part of the grid tree (an admin sees all, a street login its
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
from web import dashboard_figures as figs
from web import report_cache
from web.deps import Scope, current_user, render, uow, user_scope
from web.report_cache import ReportCache

router = APIRouter(prefix="/dashboard", include_in_schema=False)
DEFAULT_DAYS = 30
DIMENSIONS = (("by_category", "按类别"), ("by_grid", "按网格"), ("by_channel", "按渠道"))
# The 7621 report table: (Report attribute, heading, the case desk's filter for a row)
SECTIONS = (("by_category", "按类别", "category"), ("by_grid", "按网格", "grid"),
            ("by_channel", "按渠道", "channel"), ("by_handling", "按处理方式（已办结）", "handling"))
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
                scope: Scope | None = None, cache: ReportCache | None = None) -> dict:
    """The report for [start, end] as the CLI has it: object, printed text, JSON dict —
    only the cases of the scope's grid nodes when a scope is given (web/report_cache.py:
    from the stored facts when they can be trusted, else counted live)."""
    grid_ids = scope.grid_ids if scope is not None else None
    report = (cache.report(unit, start, end, tz, grid_ids) if cache is not None
              else report_cache.count_report(unit, start, end, tz, grid_ids))
    return {"report": report, "text": stats.format_report(report),
            "json": stats.report_json(report)}


def table_rows(data: dict, dimension: str) -> list[dict]:
    """Rows of one breakdown of the JSON report: {key, label, accepted, …}."""
    return list(data.get(dimension) or [])


class PeriodError(ValueError):
    """A period the form cannot show; the message is for the user."""


def period(date_from, date_to, tz: str) -> tuple[date, date]:
    start, end = default_period(date_from, date_to, tz)
    if start > end:
        raise PeriodError("开始日期不能晚于结束日期，请重新选择")
    if (end - start).days > 3660:
        raise PeriodError("统计区间不能超过十年，请缩短区间")
    return start, end


def figures(request: Request, unit: UnitOfWork, scope: Scope, start: date, end: date) -> dict:
    """Everything the page shows for the period, limited to the user's scope."""
    settings = request.app.state.settings
    tz, grid_ids, now = settings.timezone, scope.grid_ids, utcnow()
    cache = report_cache.for_app(request.app)
    data = report_data(unit, start, end, tz, scope, cache)
    rep = data["report"]
    before = stats.previous_period(start, end)
    previous = cache.overall(unit, *before, tz, grid_ids)
    overdue = stats.overdue_by_grid(unit, now, grid_ids)
    link = figs.cases_link(start, end)
    charts = {
        "trend": figs.trend(rep, start, end),
        "category": figs.breakdown(rep.by_category, start, end, "category"),
        "channel": figs.breakdown(rep.by_channel, start, end, "channel"),
        "handling": figs.breakdown(rep.by_handling, start, end, "handling", "resolved"),
        "map": figs.grid_map(unit, rep, overdue, grid_ids, start, end),
    }
    return {"data": data["json"], "report": rep, "charts": charts,
            "cards": figs.kpi_cards(rep.overall, previous, settings.dashboard_targets, link),
            "previous": before, "overdue_now": sum(overdue.values()),
            "sections": [(label, getattr(rep, key), param) for key, label, param in SECTIONS],
            "rate_columns": RATE_COLUMNS, "rate_headers": RATE_HEADERS,
            "rankings": [(label, data["json"]["ranking"][key], key)
                         for key, label in RANK_LEVELS],
            "staff": figs.staff_ranking(unit, rep)}


@router.get("")
def dashboard(request: Request, date_from: str | None = Query(None, alias="from"),
              date_to: str | None = Query(None, alias="to"),
              _user: UserView = Depends(current_user), scope: Scope = Depends(user_scope),
              unit: UnitOfWork = Depends(uow)):
    tz = request.app.state.settings.timezone
    try:
        start, end = period(_date(date_from, "开始日期"), _date(date_to, "结束日期"), tz)
    except PeriodError as error:  # the form again, the reason next to it
        return render(request, "dashboard.html", status_code=422, error=str(error),
                      start=date_from or "", end=date_to or "")
    overdue, overdue_total = figs.overdue_list(unit, scope, utcnow())
    return render(request, "dashboard.html", start=start, end=end, error=None,
                  overdue=overdue, overdue_total=overdue_total,
                  **figures(request, unit, scope, start, end))


def _date(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PeriodError(f"{name}格式不对，请用 年-月-日，例如 2026-01-31") from None


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
    try:
        start, end = period(date_from, date_to, tz)
    except PeriodError as error:
        raise HTTPException(400, str(error)) from None
    cache = report_cache.for_app(request.app)
    rows = export_rows(report_data(unit, start, end, tz, scope, cache)["json"])
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
