"""``minsheng limits deadline`` — a deadline on the working calendar, as ISO time.

    minsheng limits deadline --category sanitation --opened 2025-09-30T10:00 [--urgent]

A time without an offset is local (settings.timezone). The configured TimeLimit rows are
used when the database has them, the defaults of DESIGN.md otherwise.
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from minsheng.enums import Category
from minsheng.errors import DomainError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minsheng limits",
                                     description="办理时限 / time limits")
    sub = parser.add_subparsers(dest="command", required=True)
    deadline = sub.add_parser("deadline", help="计算办结截止时间 / the resolve deadline")
    deadline.add_argument("--category", required=True, choices=[c.value for c in Category])
    deadline.add_argument("--opened", required=True,
                          help="受理时间，ISO 格式 / opening time, ISO 8601")
    deadline.add_argument("--urgent", action="store_true", help="紧急（按自然小时）/ urgent")
    deadline.add_argument("--ack", action="store_true",
                          help="签收截止时间而非办结 / the acknowledge deadline instead")
    return parser


def _limits(settings, category: str, urgent: bool):
    from minsheng.db import Database
    from minsheng.services import limits

    database = Database(settings.database_url)
    try:
        with database.uow() as uow:
            return limits.limits_for(uow.session, Category(category), urgent)
    except SQLAlchemyError:  # no database yet: the defaults
        return limits.default_limits(Category(category), urgent)
    finally:
        database.dispose()


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from minsheng.settings import load_settings

    settings = load_settings()
    zone = ZoneInfo(settings.timezone)
    try:
        opened = datetime.fromisoformat(args.opened)
    except ValueError:
        print(f"受理时间不是 ISO 格式（如 2025-09-30T10:00）/ not an ISO time: {args.opened}",
              file=sys.stderr)
        return 2
    opened = opened if opened.tzinfo else opened.replace(tzinfo=zone)
    start = opened.astimezone(timezone.utc).replace(tzinfo=None)
    ack, resolve = _limits(settings, args.category, args.urgent)
    try:
        end = (ack if args.ack else resolve).due(start, settings.timezone, strict=True)
    except DomainError as error:
        print(error, file=sys.stderr)
        return 2
    print(end.replace(tzinfo=timezone.utc).astimezone(zone).isoformat(timespec="seconds"))
    return 0
