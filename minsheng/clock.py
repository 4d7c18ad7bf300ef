"""Time handling: stored times are naive UTC; days and dates are local (settings.timezone)."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Asia/Shanghai"


def utcnow() -> datetime:
    """Now as a naive UTC datetime, the form every stored time has."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def to_local(moment: datetime, tz: str = DEFAULT_TIMEZONE) -> datetime:
    return moment.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(tz))


# The one place that writes a stored time for people to read.
TIME_STYLES = {
    "short": "%m-%d %H:%M",  # staff cards, task lists, CLI tables
    "full": "%Y-%m-%d %H:%M",  # console pages, exports
}


def format_local(moment: datetime | None, tz: str = DEFAULT_TIMEZONE, style: str = "short",
                 empty: str = "—") -> str:
    """A stored naive-UTC (or aware) time as local text.

    Styles: ``short`` '11-22 14:05', ``full`` '2026-11-22 14:05', ``resident``
    '11月22日 14:05' (what residents read), or any strftime pattern.
    """
    if moment is None:
        return empty
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    local = moment.astimezone(ZoneInfo(tz))
    if style == "resident":
        return f"{local.month}月{local.day}日 {local:%H:%M}"
    return local.strftime(TIME_STYLES.get(style, style))


def local_day_code(moment: datetime, tz: str = DEFAULT_TIMEZONE) -> str:
    """'20261122' for a naive-UTC moment, as the calendar day in ``tz`` (case numbers)."""
    return to_local(moment, tz).strftime("%Y%m%d")


def utc_bounds(date_from: date, date_to: date, tz: str = DEFAULT_TIMEZONE):
    """[start, end) in naive UTC covering the local dates date_from..date_to inclusive."""
    zone = ZoneInfo(tz)
    start = datetime.combine(date_from, time.min, tzinfo=zone)
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=zone)
    return (start.astimezone(timezone.utc).replace(tzinfo=None),
            end.astimezone(timezone.utc).replace(tzinfo=None))
