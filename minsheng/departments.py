"""Departments (职能部门) that 街道吹哨 calls in and 转办 hands cases to: the admin's table.

    minsheng departments list [--all]
    minsheng departments add --name 城管执法中队 [--phone 0311-1234567]

The console's admin page edits the same rows (``save`` / ``set_active``); each change is
in the audit log.
"""
from __future__ import annotations

import argparse

from sqlalchemy import func, select

from minsheng import audit
from minsheng.errors import InvalidInput, NotFound
from minsheng.models import Department

MAX_NAME, MAX_PHONE = 100, 20


def listing(session, include_inactive: bool = False) -> list[Department]:
    query = select(Department).order_by(Department.name)
    if not include_inactive:
        query = query.where(Department.active.is_(True))
    return list(session.execute(query).scalars())


def save(uow, name: str, duty_phone: str = "", department_id: int | None = None,
         actor: str | None = None) -> Department:
    """Add a department, or rename / re-number one (staged; the caller commits)."""
    name, duty_phone = (name or "").strip(), (duty_phone or "").strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidInput(f"请填写部门名称（不超过 {MAX_NAME} 个字）。")
    if len(duty_phone) > MAX_PHONE:
        raise InvalidInput(f"值班电话不超过 {MAX_PHONE} 位。")
    session = uow.session
    same = session.execute(select(Department).where(
        func.lower(Department.name) == name.lower())).scalar_one_or_none()
    row = session.get(Department, department_id) if department_id else None
    if department_id and row is None:
        raise NotFound("没有这个部门。")
    if same is not None and same is not row:
        raise InvalidInput(f"已有名为「{name}」的部门。")
    row = row or Department(active=True)
    row.name, row.duty_phone = name, duty_phone or None
    session.add(row)
    session.flush()
    audit.record(uow, "department_saved", actor=actor, target=f"department:{row.id}",
                 detail=f"{name} {duty_phone}".strip())
    return row


def set_active(uow, department_id: int, active: bool, actor: str | None = None) -> Department:
    row = uow.session.get(Department, department_id)
    if row is None:
        raise NotFound("没有这个部门。")
    row.active = bool(active)
    audit.record(uow, "department_" + ("activated" if active else "deactivated"), actor=actor,
                 target=f"department:{row.id}", detail=row.name)
    return row


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="minsheng departments",
                                     description="职能部门（街道吹哨、转办）/ departments")
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("list", help="列出部门 / list departments")
    show.add_argument("--all", action="store_true", help="包括已停用的 / include inactive")
    add = sub.add_parser("add", help="新增部门 / add a department")
    add.add_argument("--name", required=True, help="部门名称 / name")
    add.add_argument("--phone", default="", help="值班电话 / duty phone")
    args = parser.parse_args(argv)
    from minsheng.db import Database
    from minsheng.settings import load_settings

    database = Database(load_settings().database_url)
    try:
        with database.uow() as uow:
            if args.command == "add":
                row = save(uow, args.name, args.phone, actor="cli")
                uow.commit()
                print(f"已添加 / added: {row.id}\t{row.name}\t{row.duty_phone or ''}")
                return 0
            for row in listing(uow.session, args.all):
                state = "" if row.active else "\t已停用 / inactive"
                print(f"{row.id}\t{row.name}\t{row.duty_phone or ''}{state}")
        return 0
    except InvalidInput as error:
        print(error)
        return 2
    finally:
        database.dispose()
