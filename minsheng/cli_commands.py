"""What each ``minsheng`` subcommand does; ``minsheng.cli`` only parses the arguments."""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date, timedelta

from minsheng.clock import DEFAULT_TIMEZONE, format_local, to_local, utcnow
from minsheng.db import Database
from minsheng.errors import DomainError

REPORT_DAYS = 90


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"日期格式应为 YYYY-MM-DD：{text}") from None


def db_upgrade(database: Database, settings) -> int:
    from minsheng.migrate import upgrade
    from minsheng.place_lexicon import refresh
    from minsheng.services.routing import ensure_default_rules

    upgrade(database.url)
    with database.uow() as uow:
        added = ensure_default_rules(uow.session)
        uow.commit()
        # grids imported before the lexicon existed (or by hand) reach the NLU at start-up
        refresh(uow.session, settings.place_lexicon_path)
    print(f"数据库已升级到最新版本（{database.url.split('://')[0]}）"
          + (f"，已添加 {added} 条默认派单规则" if added else ""))
    return 0


def seed_demo(database: Database, settings, reports: int | None = None) -> int:
    from minsheng.demo_cases import REPORTS, seed_cases
    from minsheng.demo_district import grid_rows, seed_staff
    from minsheng.grid_import import import_grids
    from minsheng.services.routing import ensure_default_rules

    with database.uow() as uow:
        created, _updated = import_grids(uow, grid_rows(), settings.place_lexicon_path)
    with database.uow() as uow:
        staff_added = seed_staff(uow)
        ensure_default_rules(uow.session)
        uow.commit()
    started = time.monotonic()
    cases_added = seed_cases(database, utcnow(), settings, reports=reports or REPORTS)
    print(f"示例数据：新增网格 {created} 个，工作人员 {staff_added} 名，"
          f"工单 {cases_added} 件（{time.monotonic() - started:.1f} 秒）。再次运行不会重复添加。")
    return 0


def grid_import(database: Database, settings, path: str) -> int:
    from minsheng.grid_import import import_grids, read_file

    with database.uow() as uow:
        created, updated = import_grids(uow, read_file(path), settings.place_lexicon_path)
    print(f"导入完成：新增 {created} 个网格，更新 {updated} 个。")
    return 0


def staff_add(database: Database, settings, args) -> int:
    from minsheng.services.staff import add_staff

    with database.uow() as uow:
        member = add_staff(uow, args.name, args.role, args.grid,
                           telegram_user_id=args.telegram_id, phone=args.phone,
                           public_name=args.public_name)
        print(f"已登记：{member.name}（{member.public_name}），编号 {member.id}")
    return 0


def staff_list(database: Database, settings, as_json: bool = False) -> int:
    from minsheng.services.staff import list_staff

    with database.uow() as uow:
        rows = list_staff(uow)
        if as_json:
            print(json.dumps([{"id": m.id, "name": m.name, "public_name": m.public_name,
                               "role": str(m.role), "grid_code": grid.code}
                              for m, grid in rows], ensure_ascii=False, indent=2))
            return 0
        for member, grid in rows:
            duty = "在岗" if member.on_duty else "不在岗"
            print(f"{member.id:>4}  {member.name}（{member.public_name}）  {member.role}  "
                  f"{grid.code} {grid.name}  {member.duty_phone or '—'}  "
                  f"TG:{member.telegram_user_id or '—'}  {duty}")
        print(f"共 {len(rows)} 人")
    return 0


def token(database: Database, settings, args) -> int:
    """``token create`` prints the new token alone on stdout; the notice goes to stderr."""
    from minsheng import api_tokens
    from minsheng.users import UserError

    try:
        with database.uow() as uow:
            if args.command == "create":
                value = api_tokens.create_token(uow, args.username)
                uow.commit()
                print(value)
                print(f"已为 {args.username} 生成 API 令牌（只显示这一次，请妥善保存；"
                      f"请求头 Authorization: Bearer <令牌>）", file=sys.stderr)
            else:
                count = api_tokens.revoke_tokens(uow, args.username)
                uow.commit()
                print(f"已吊销 {args.username} 的 {count} 个令牌")
    except UserError as error:
        print(f"错误：{error}", file=sys.stderr)
        return 1
    return 0


def cases_list(database: Database, settings, args) -> int:
    from minsheng.services import cases

    tz = settings.timezone
    with database.uow() as uow:
        views = cases.list_cases(uow, state=args.state, category=args.category,
                                 grid_code=args.grid, channel=args.channel,
                                 overdue=True if args.overdue else None, limit=args.limit)
    for v in views:
        flag = "（超时）" if v.overdue else ""
        print(f"{v.case_no}  {v.category_label}  {v.state_label}{flag}  "
              f"{v.grid_name or '—'}  {v.assignee_name or '—'}  受理 {format_local(v.accepted_at, tz)}"
              f"  时限 {format_local(v.resolve_deadline, tz)}  {v.description[:30]}")
    print(f"共 {len(views)} 件" + ("（已截断，可用 --limit）" if len(views) == args.limit else ""))
    return 0


def case_sheet(database: Database, settings, args) -> int:
    from pathlib import Path

    from minsheng.case_sheet import sheet_for

    with database.uow() as uow:
        pdf = sheet_for(uow, args.case_no, settings.photos_dir, settings.timezone)
    Path(args.out).write_bytes(pdf)
    print(f"承办单已保存：{args.out}（{len(pdf) // 1024} KB）")
    return 0


def report(database: Database, settings, args) -> int:
    from minsheng.services import stats

    today = to_local(utcnow(), settings.timezone).date()
    date_to = args.date_to or today
    date_from = args.date_from or date_to - timedelta(days=REPORT_DAYS)
    if date_from > date_to:
        print("开始日期不能晚于结束日期")
        return 2
    with database.uow() as uow:
        grid_ids = None
        if args.grid:
            from minsheng.services.queries import subtree_ids

            grid_ids = subtree_ids(uow.session, args.grid)
            if not grid_ids:
                print(f"没有网格编码 {args.grid}")
                return 1
        rep = stats.report(uow, date_from, date_to, settings.timezone, grid_ids=grid_ids)
    if args.json:
        print(json.dumps(stats.report_json(rep), ensure_ascii=False, indent=2))
    else:
        print(stats.format_report(rep), end="")
    return 0


def hotspots(database: Database, settings, args) -> int:
    """``minsheng hotspots [--days N] [--grid CODE] [--json]`` (docs/hotspots.md)."""
    from minsheng.services import hotspots as service
    from minsheng.services.queries import subtree_ids

    params = service.Params.from_settings(settings, args.days)
    with database.uow() as uow:
        grid_ids = subtree_ids(uow.session, args.grid) if args.grid else None
        if args.grid and not grid_ids:
            print(f"没有网格编码 {args.grid}")
            return 1
        found = service.find(uow, utcnow(), params, grid_ids=grid_ids)
    if args.json:
        print(json.dumps({"days": params.window_days,
                          "items": [service.as_json(s, settings.timezone) for s in found]},
                         ensure_ascii=False, indent=2))
    else:
        print(service.format_text(found, params.window_days, settings.timezone), end="")
    return 0


def scheduler_run(database: Database, settings, args) -> int:
    from minsheng import scheduler_loop

    timezone = getattr(settings, "timezone", DEFAULT_TIMEZONE)
    return scheduler_loop.run(database, settings, args.interval, once=args.once,
                              stamp=lambda now: format_local(now, timezone))


def run(args, settings) -> int:
    database = Database(settings.database_url)
    try:
        group, command = args.group, getattr(args, "command", None)
        if group == "db":
            return db_upgrade(database, settings)
        if group == "seed":
            return seed_demo(database, settings)
        if group == "grid":
            return grid_import(database, settings, args.file)
        if group == "staff":
            return staff_add(database, settings, args) if command == "add" \
                else staff_list(database, settings, args.json)
        if group == "token":
            return token(database, settings, args)
        if group == "cases":
            return case_sheet(database, settings, args) if command == "sheet" \
                else cases_list(database, settings, args)
        if group == "report":
            return report(database, settings, args)
        if group == "scheduler":
            return scheduler_run(database, settings, args)
        if group == "hotspots":
            return hotspots(database, settings, args)
        raise SystemExit(f"unknown command {group}")
    except DomainError as error:
        print(f"错误：{error}")
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        database.dispose()
