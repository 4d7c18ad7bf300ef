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
