"""Grid tree import from YAML or CSV (``minsheng grid import FILE``), upserted by code.

CSV (UTF-8, header row), the same columns as the web console's import:
    code,name,level,parent_code,xiaoqu,buildings,lat,lon,aliases,landmarks
    130102001,幸福社区,community,130102,幸福里小区;阳光花园,,,,,
    130102001001,第一网格,grid,130102001,幸福里小区,幸福里:1号楼;幸福里:2号楼,38.04,114.51,老纺织宿舍=幸福里小区,幸福菜市场;建设路
Lists are separated by ';' or '；'. A building is '小区:楼栋' or just '楼栋'.
aliases (optional): other names of a covered estate, each '别名=小区' (幸福里 for 幸福里小区
needs none: a trailing 小区 is dropped when names are compared). landmarks (optional):
landmarks and roads that stand for this grid (菜市场, 实验小学, 建设路). A message that names
only an alias or a landmark is routed to the grid that lists it.

YAML: a list (or {grids: [...]}) of mappings with the same keys; lists may be YAML lists,
``parent`` is accepted for ``parent_code`` and ``polygon`` ([[lat, lon], ...]) is optional.

Levels: district, street, community, grid, micro_grid. Parents must be in the file
(any order) or already in the database. The whole file is refused if one row is wrong.
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from sqlalchemy import select

from minsheng.enums import GridLevel
from minsheng.errors import InvalidInput
from minsheng.models import Grid
from minsheng.place_lexicon import parse_alias, refresh

_SPLIT = re.compile(r"[;；]")


def _list(value) -> list:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in _SPLIT.split(str(value)) if part.strip()]


def _float(value, where: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{where}：坐标不是数字（{value}）") from None


def _aliases(value, where: str) -> list[str]:
    entries = _list(value)
    for entry in entries:
        if parse_alias(entry) is None:
            raise InvalidInput(f"{where}：别名应写成「别名=小区」（{entry}）")
    return entries


def read_file(path: Path) -> list[dict]:
    text = Path(path).read_text(encoding="utf-8-sig")
    if Path(path).suffix.lower() in (".yml", ".yaml"):
        import yaml

        data = yaml.safe_load(text) or []
        rows = data.get("grids", []) if isinstance(data, dict) else data
        if not isinstance(rows, list):
            raise InvalidInput("YAML 文件应是网格列表，或 grids: [...]")
        return rows
    return list(csv.DictReader(io.StringIO(text)))


def clean_rows(rows: list[dict]) -> list[dict]:
    cleaned = []
    for number, raw in enumerate(rows, start=1):
        where = f"第 {number} 行"
        if not isinstance(raw, dict):
            raise InvalidInput(f"{where}：格式不对")
        code, name = str(raw.get("code") or "").strip(), str(raw.get("name") or "").strip()
        if not code or not name:
            raise InvalidInput(f"{where}：缺少网格编码或名称")
        try:
            level = GridLevel(str(raw.get("level") or "").strip())
        except ValueError:
            raise InvalidInput(f"{where}：层级无效（{raw.get('level')}）") from None
        parent = str(raw.get("parent_code") or raw.get("parent") or "").strip() or None
        cleaned.append({
            "code": code, "name": name, "level": level, "parent_code": parent,
            "xiaoqu": _list(raw.get("xiaoqu")), "buildings": _list(raw.get("buildings")),
            # a file or form without these columns leaves the grid's own unchanged
            "aliases": _aliases(raw["aliases"], where) if "aliases" in raw else None,
            "landmarks": _list(raw["landmarks"]) if "landmarks" in raw else None,
            "lat": _float(raw.get("lat"), where), "lon": _float(raw.get("lon"), where),
            "polygon": raw.get("polygon") or None})
    return cleaned


def import_grids(uow, rows: list[dict], lexicon_path: Path | None = None) -> tuple[int, int]:
    """Upsert the rows; returns (created, updated). Commits, then rewrites the place lexicon
    at ``lexicon_path`` (settings.place_lexicon_path) so the NLU knows the new names."""
    session = uow.session
    rows = clean_rows(rows)
    existing = {g.code: g for g in session.execute(select(Grid)).scalars()}
    created = updated = 0
    for row in rows:
        grid = existing.get(row["code"])
        if grid is None:
            grid = Grid(code=row["code"])
            session.add(grid)
            existing[row["code"]] = grid
            created += 1
        else:
            updated += 1
        for key in ("name", "level", "xiaoqu", "buildings", "lat", "lon", "polygon"):
            setattr(grid, key, row[key])
        for key in ("aliases", "landmarks"):
            if row[key] is not None or grid.id is None:
                setattr(grid, key, row[key] or [])
    session.flush()
    for row in rows:  # second pass: parents may come later in the file
        parent_code = row["parent_code"]
        if parent_code and parent_code not in existing:
            raise InvalidInput(f"网格 {row['code']} 的上级 {parent_code} 不存在")
        existing[row["code"]].parent_id = existing[parent_code].id if parent_code else None
    uow.commit()
    if lexicon_path is not None:
        refresh(session, lexicon_path)
    return created, updated
