"""Reading CSV / XLSX uploads, and the staff list import (网格与人员导入).

Grid rows go to ``minsheng.grid_import`` (the code behind ``minsheng grid import``). Staff:
``name, public_name, role, grid_code, duty_phone, telegram_user_id``, upserted by (name,
grid) — the domain only adds staff, the console also edits them. The whole file is
refused when one row is wrong.
"""
from __future__ import annotations

import csv
import io

from sqlalchemy import select

from minsheng.enums import StaffRole
from minsheng.models import Grid, Staff

STAFF_COLUMNS = ["name", "public_name", "role", "grid_code", "duty_phone", "telegram_user_id"]


class TableImportError(ValueError):
    """The file was refused; the message names the row (Chinese)."""


def read_rows(filename: str, data: bytes) -> list[dict[str, str]]:
    """Rows of a CSV (UTF-8, with or without BOM) or of the first sheet of an XLSX."""
    if filename.lower().endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            sheet = load_workbook(io.BytesIO(data), read_only=True).active
        except Exception:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
            raise TableImportError("无法读取 XLSX 文件") from None
        values = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        if not values:
            return []
        header = [h.strip() for h in values[0]]
        return [dict(zip(header, row)) for row in values[1:] if any(c.strip() for c in row)]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TableImportError("CSV 文件必须是 UTF-8 编码") from None
    return [row for row in csv.DictReader(io.StringIO(text)) if any((v or "").strip() for v in row.values())]


def import_staff(uow, rows: list[dict[str, str]]) -> int:
    session = uow.session
    grids = {g.code: g for g in session.execute(select(Grid)).scalars()}
    for line, row in enumerate(rows, start=2):
        name = (row.get("name") or "").strip()
        grid = grids.get((row.get("grid_code") or "").strip())
        if not name or grid is None:
            raise TableImportError(f"第 {line} 行：姓名为空或找不到网格编码 {row.get('grid_code')!r}")
        try:
            role = StaffRole((row.get("role") or "grid_worker").strip())
        except ValueError:
            raise TableImportError(f"第 {line} 行：角色 {row.get('role')!r} 无效") from None
        tg = (row.get("telegram_user_id") or "").strip()
        if tg and not tg.isdigit():
            raise TableImportError(f"第 {line} 行：Telegram 用户 ID 必须是数字")
        member = session.execute(
            select(Staff).where(Staff.name == name, Staff.grid_id == grid.id)
        ).scalar_one_or_none() or Staff(name=name, grid_id=grid.id)
        member.public_name = (row.get("public_name") or name).strip()[:50]
        member.role = role
        member.duty_phone = (row.get("duty_phone") or "").strip()[:20] or None
        member.telegram_user_id = int(tg) if tg else None
        session.add(member)
        session.flush()
    return len(rows)
