"""Time limits: TimeLimit rows override the defaults of DESIGN.md."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from minsheng.enums import Category
from minsheng.models import TimeLimit

HOUR = 60
ACK_MINUTES = 2 * HOUR
URGENT_ACK_MINUTES = 30
URGENT_RESOLVE_MINUTES = 4 * HOUR
RESOLVE_MINUTES = {
    Category.safety_hazard: 24 * HOUR,
    Category.public_order: 24 * HOUR,
    Category.sanitation: 48 * HOUR,
    Category.clutter: 48 * HOUR,
    Category.dispute: 72 * HOUR,
    Category.livelihood: 72 * HOUR,
    Category.illegal_construction: 5 * 24 * HOUR,
}


def default_minutes(category: Category, urgent: bool) -> tuple[int, int]:
    """(acknowledge, resolve) minutes as DESIGN.md sets them."""
    if urgent:
        return URGENT_ACK_MINUTES, URGENT_RESOLVE_MINUTES
    return ACK_MINUTES, RESOLVE_MINUTES[Category(category)]


def minutes_for(session: Session, category: Category, urgent: bool) -> tuple[int, int]:
    """(acknowledge, resolve) minutes, a configured TimeLimit row winning over the default."""
    row = session.execute(select(TimeLimit).where(
        TimeLimit.category == Category(category), TimeLimit.urgent.is_(bool(urgent)))
    ).scalar_one_or_none()
    if row is not None:
        return row.ack_minutes, row.resolve_minutes
    return default_minutes(category, urgent)


def deadlines(session: Session, category: Category, urgent: bool,
              start: datetime) -> tuple[datetime, datetime]:
    """(ack_deadline, resolve_deadline) counted from ``start`` (naive UTC)."""
    ack, resolve = minutes_for(session, category, urgent)
    return start + timedelta(minutes=ack), start + timedelta(minutes=resolve)


def ack_deadline(session: Session, category: Category, urgent: bool,
                 start: datetime) -> datetime:
    return deadlines(session, category, urgent, start)[0]
