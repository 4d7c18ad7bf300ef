"""Time limits: TimeLimit rows override the defaults; deadlines on the working calendar.

A limit is an amount and a unit: clock minutes or hours (urgent cases: the clock runs day
and night) or working hours and working days (``minsheng.working_time``: 09:00–12:00,
13:30–17:30 on the Chinese calendar, a working day = 7 working hours). The defaults
follow DESIGN.md with its hours read as working time: acknowledge within 2 working hours;
resolve within 1 working day (安全隐患, 治安稳定), 2 (环境卫生, 乱堆乱放), 3 (矛盾纠纷,
民生诉求) or 5 (私搭乱建); urgent cases 30 minutes and 4 hours by the clock.
Deadlines are stored as naive UTC, computed in the configured time zone.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from minsheng import working_time
from minsheng.clock import DEFAULT_TIMEZONE
from minsheng.enums import Category
from minsheng.errors import InvalidInput
from minsheng.models import TimeLimit

# unit → (label, minutes per unit, counted on the working calendar)
UNITS = {
    "minutes": ("分钟", 1, False),
    "hours": ("小时", 60, False),
    "working_hours": ("工作小时", 60, True),
    "working_days": ("工作日", 60 * working_time.HOURS_PER_WORKING_DAY, True),
}
MAX_MINUTES = 60 * 24 * 60  # 60 days of clock time, or 60 × 7 working hours per day


@dataclass(frozen=True)
class Limit:
    amount: int
    unit: str

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise InvalidInput(f"时限单位只能是：{'、'.join(u[0] for u in UNITS.values())}。")
        if not 1 <= self.amount or self.minutes > MAX_MINUTES:
            raise InvalidInput("时限必须是正整数，且不超过 60 天。")

    @property
    def minutes(self) -> int:
        return self.amount * UNITS[self.unit][1]

    @property
    def working(self) -> bool:
        return UNITS[self.unit][2]

    def __str__(self) -> str:
        return f"{self.amount} {UNITS[self.unit][0]}"

    def due(self, start: datetime, tz: str = DEFAULT_TIMEZONE, strict: bool = False) -> datetime:
        """The deadline of something started at ``start`` (naive UTC), as naive UTC.

        ``strict``: a year the calendar does not cover raises CalendarNotCovered instead
        of counting Monday to Friday (the services keep accepting cases either way).
        """
        if not self.working:
            return start + timedelta(minutes=self.minutes)
        end = working_time.add_working_minutes(working_time.local(start, tz), self.minutes,
                                               strict)
        return end.astimezone(timezone.utc).replace(tzinfo=None)


ACK = Limit(2, "working_hours")
URGENT_ACK = Limit(30, "minutes")
URGENT_RESOLVE = Limit(4, "hours")
RESOLVE = {
    Category.safety_hazard: Limit(1, "working_days"),
    Category.public_order: Limit(1, "working_days"),
    Category.sanitation: Limit(2, "working_days"),
    Category.clutter: Limit(2, "working_days"),
    Category.dispute: Limit(3, "working_days"),
    Category.livelihood: Limit(3, "working_days"),
    Category.illegal_construction: Limit(5, "working_days"),
}


def default_limits(category: Category, urgent: bool) -> tuple[Limit, Limit]:
    """(acknowledge, resolve) as DESIGN.md sets them."""
    if urgent:
        return URGENT_ACK, URGENT_RESOLVE
    return ACK, RESOLVE[Category(category)]


def row_limits(row: TimeLimit) -> tuple[Limit, Limit]:
    return Limit(row.ack_amount, row.ack_unit), Limit(row.resolve_amount, row.resolve_unit)


def limits_for(session: Session, category: Category, urgent: bool) -> tuple[Limit, Limit]:
    """(acknowledge, resolve), a configured TimeLimit row winning over the default."""
    row = session.execute(select(TimeLimit).where(
        TimeLimit.category == Category(category), TimeLimit.urgent.is_(bool(urgent)))
    ).scalar_one_or_none()
    return row_limits(row) if row is not None else default_limits(category, urgent)


def deadlines(session: Session, category: Category, urgent: bool, start: datetime,
              tz: str = DEFAULT_TIMEZONE, strict: bool = False) -> tuple[datetime, datetime]:
    """(ack_deadline, resolve_deadline) counted from ``start`` (naive UTC)."""
    ack, resolve = limits_for(session, category, urgent)
    return ack.due(start, tz, strict), resolve.due(start, tz, strict)


def ack_deadline(session: Session, category: Category, urgent: bool,
                 start: datetime, tz: str = DEFAULT_TIMEZONE) -> datetime:
    return deadlines(session, category, urgent, start, tz)[0]
