"""``minsheng`` — the admin command line (Chinese-friendly output).

    minsheng db upgrade                 apply the migrations (and default routing rules)
    minsheng seed demo                  the demo district with ~3 months of cases
    minsheng grid import FILE           grid tree from YAML or CSV (format: grid import -h)
    minsheng staff add|list [--json]    staff members
    minsheng token create|revoke --username NAME
                                        bearer tokens of the JSON API (token printed once)
    minsheng cases list [--state …]     cases, newest first
    minsheng cases sheet CASE_NO --out FILE
                                        the case's printable 承办单 (PDF)
    minsheng report [--from] [--to]     the 7621 report and the 接诉即办 rates [--json]
                    [--grid CODE]       (docs/metrics.md), for one part of the grid tree
    minsheng hotspots [--days N] [--grid CODE] [--json]
                                        hot spots: repeated reports of one problem at one place
    minsheng scheduler run [--once]     overdue escalation, the rating window, hot-spot alerts
    minsheng user …  /  minsheng nlu …  console logins / NLU tooling (their own modules)
    minsheng privacy export|erase --resident R
                                        a resident's data (PIPL): export it, or erase it
    minsheng limits deadline --category C --opened ISO [--urgent]
                                        a deadline on the working calendar
    minsheng departments list|add       departments for 街道吹哨 and 转办
"""
from __future__ import annotations

import argparse
import importlib
import sys

from minsheng import cli_commands as commands
from minsheng.enums import CaseState, Category, Channel, StaffRole
from minsheng.grid_import import __doc__ as GRID_FORMAT

# Subcommands owned by other modules, handed the rest of the command line.
DELEGATED = {"nlu": "nlu.cli", "user": "minsheng.users", "privacy": "minsheng.data_requests",
             "limits": "minsheng.limits_cli", "departments": "minsheng.departments"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minsheng", description="民生说事 管理命令",
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__)
    sub = parser.add_subparsers(dest="group", required=True)

    db = sub.add_parser("db", help="数据库").add_subparsers(dest="command", required=True)
    db.add_parser("upgrade", help="升级数据库结构到最新版本")

    seed = sub.add_parser("seed", help="示例数据").add_subparsers(dest="command", required=True)
    seed.add_parser("demo", help="示例街道、社区、网格、人员和约三个月的工单（可重复运行）")

    grid = sub.add_parser("grid", help="网格").add_subparsers(dest="command", required=True)
    grid_import = grid.add_parser("import", help="导入网格（YAML 或 CSV）", description=GRID_FORMAT,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    grid_import.add_argument("file")

    staff = sub.add_parser("staff", help="工作人员").add_subparsers(dest="command", required=True)
    add = staff.add_parser("add", help="登记工作人员")
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=[r.value for r in StaffRole])
    add.add_argument("--grid", required=True, help="网格编码")
    add.add_argument("--telegram-id", type=int)
    add.add_argument("--phone", help="值班电话")
    add.add_argument("--public-name", help="公示牌上的称呼")
    staff_list = staff.add_parser("list", help="列出工作人员 / list staff")
    staff_list.add_argument("--json", action="store_true",
                            help="输出 JSON 列表（id, name, public_name, role, grid_code）"
                                 " / print a JSON list")

    token = sub.add_parser("token", help="API 令牌 / bearer tokens of the JSON API") \
        .add_subparsers(dest="command", required=True)
    token_create = token.add_parser(
        "create", help="为控制台账号生成新令牌（只显示一次）/ make a token for a console login "
                       "(shown once)")
    token_create.add_argument("--username", required=True, help="控制台账号 / console login")
    token_revoke = token.add_parser(
        "revoke", help="吊销该账号的全部令牌 / revoke every token of a console login")
    token_revoke.add_argument("--username", required=True, help="控制台账号 / console login")

    case_cmd = sub.add_parser("cases", help="工单").add_subparsers(dest="command", required=True)
    listing = case_cmd.add_parser("list", help="列出工单（最新在前）")
    listing.add_argument("--state", choices=[s.value for s in CaseState])
    listing.add_argument("--category", choices=[c.value for c in Category])
    listing.add_argument("--channel", choices=[c.value for c in Channel])
    listing.add_argument("--grid", help="网格编码（含下级）")
    listing.add_argument("--overdue", action="store_true", help="只看超时工单")
    listing.add_argument("--limit", type=int, default=50)
    sheet = case_cmd.add_parser("sheet", help="承办单 PDF（可打印）")
    sheet.add_argument("case_no", help="工单号，如 MS-20261122-0007")
    sheet.add_argument("--out", required=True, help="输出文件，如 承办单.pdf")

    report = sub.add_parser("report", help="7621 统计报告")
    report.add_argument("--from", dest="date_from", type=commands.parse_date,
                        help="开始日期 YYYY-MM-DD（默认：结束日期前 90 天）")
    report.add_argument("--to", dest="date_to", type=commands.parse_date,
                        help="结束日期 YYYY-MM-DD（默认：今天）")
    report.add_argument("--json", action="store_true", help="输出 JSON")
    report.add_argument("--grid", help="只统计该网格编码及其下级（如一个街道）")

    spots = sub.add_parser("hotspots", help="热点问题：同一地点同类问题的多次反映 / hot spots")
    spots.add_argument("--days", type=int, choices=range(1, 91), metavar="N",
                       help="统计最近 N 天，1–90（默认 MINSHENG_HOTSPOT_WINDOW_DAYS，30）"
                            " / the last N days")
    spots.add_argument("--grid", help="只看该网格编码及其下级 / one node of the grid tree and below")
    spots.add_argument("--json", action="store_true", help="输出 JSON / print JSON")

    sched = sub.add_parser("scheduler", help="定时任务").add_subparsers(dest="command",
                                                                    required=True)
    run = sched.add_parser("run", help="超时督办与评价提醒")
    run.add_argument("--once", action="store_true", help="只扫描一次")
    run.add_argument("--interval", type=float, default=60.0, help="扫描间隔（秒）")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        return importlib.import_module(DELEGATED[argv[0]]).main(argv[1:]) or 0
    args = build_parser().parse_args(argv)
    from minsheng.settings import load_settings

    settings = load_settings()
    return commands.run(args, settings)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
