"""Working time on the Chinese calendar: public holidays and 调休 (chinese-calendar).

Working hours are 09:00–12:00 and 13:30–17:30 local time, 7 hours a working day, on the
days the State Council's schedule makes working days (a 调休 Saturday included, a
holiday weekday excluded). A limit of N working days is N × 7 working hours, so a case
opened on a Tuesday at 10:00 with one working day is due on Wednesday at 10:00; a case
opened outside working hours starts counting at the next working period.

chinese-calendar ships the schedule of a fixed range of years (a new release each year
once the schedule is published); a day outside it raises CalendarNotCovered.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar
from chinese_calendar import constants

from minsheng.errors import InvalidInput

log = logging.getLogger(__name__)

WORK_PERIODS = ((time(9, 0), time(12, 0)), (time(13, 30), time(17, 30)))
HOURS_PER_WORKING_DAY = 7
MAX_DAYS = 3 * 366  # no limit reaches that far; guards against an endless walk
_WARNED: set[int] = set()  # years already logged as not covered


class CalendarNotCovered(InvalidInput):
    """A day in a year chinese-calendar has no holiday schedule for."""


def covered_years() -> tuple[int, int]:
    years = {d.year for d in constants.holidays}
    return min(years), max(years)


def _not_covered(year: int) -> CalendarNotCovered:
    first, last = covered_years()
    return CalendarNotCovered(
        f"工作日历没有 {year} 年的节假日安排（chinese-calendar {chinese_calendar.__version__} "
        f"只含 {first}–{last} 年），请升级 chinese-calendar。 / The working-day calendar has "
        f"no holiday schedule for {year} (chinese-calendar covers {first}–{last}); "
        f"upgrade the package.")


def is_workday(day: date, strict: bool = True) -> bool:
    """Whether ``day`` is a working day. Outside the covered years: CalendarNotCovered,
    or (``strict=False``) Monday to Friday, with a warning in the log."""
    try:
        return _calendar_workday(day)
    except NotImplementedError:
        if strict:
            raise _not_covered(day.year) from None
        if day.year not in _WARNED:
            _WARNED.add(day.year)
            log.warning("no holiday schedule for %s: counting Monday to Friday", day.year)
        return day.weekday() < 5


@lru_cache(maxsize=4096)
def _calendar_workday(day: date) -> bool:
    # The schedule is fixed for the process; a report computes thousands of deadlines
    # over a few hundred days, and chinese-calendar validates each call (~70 µs).
    return chinese_calendar.is_workday(day)


def add_working_minutes(start: datetime, minutes: int, strict: bool = True) -> datetime:
    """``start`` (aware, local) plus ``minutes`` of working time, as an aware local time."""
    zone, remaining = start.tzinfo, minutes
    cursor, day = start, start.date()
    for _ in range(MAX_DAYS):
        if is_workday(day, strict):
            for opens, closes in WORK_PERIODS:
                begin = max(cursor, datetime.combine(day, opens, tzinfo=zone))
                end = datetime.combine(day, closes, tzinfo=zone)
                if begin >= end:
                    continue
                available = (end - begin) / timedelta(minutes=1)
                if remaining <= available:
                    return begin + timedelta(minutes=remaining)
                remaining -= available
        day += timedelta(days=1)
        cursor = datetime.combine(day, time.min, tzinfo=zone)
    raise InvalidInput("时限过长，无法计算截止时间。")


def local(moment: datetime, tz: str) -> datetime:
    """A naive-UTC or aware moment as an aware time in ``tz``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment.astimezone(ZoneInfo(tz))
