"""Case numbers MS-YYYYMMDD-NNNN: a per-day counter row, incremented under its row lock."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from minsheng.clock import local_day_code
from minsheng.models import CaseCounter


def _insert_ignore(session: Session, day: str):
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(CaseCounter).values(day=day, last=0).on_conflict_do_nothing()
    if dialect == "sqlite":
        return insert(CaseCounter).values(day=day, last=0).prefix_with("OR IGNORE")
    raise NotImplementedError(f"case numbers on {dialect}")


def next_case_no(session: Session, now: datetime, tz: str) -> str:
    """The next number of the local day; concurrent callers wait on the counter row."""
    day = local_day_code(now, tz)
    session.execute(_insert_ignore(session, day))
    # UPDATE first: it takes the row lock, so the SELECT reads our own increment.
    session.execute(update(CaseCounter).where(CaseCounter.day == day)
                    .values(last=CaseCounter.last + 1))
    last = session.execute(select(CaseCounter.last).where(CaseCounter.day == day)).scalar_one()
    return f"MS-{day}-{last:04d}"
