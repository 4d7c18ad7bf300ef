"""Small worlds and reports for the case-domain tests.

The world: 新华区 → 和平街道 → 幸福社区 → 第一网格 (幸福里 1–3号楼, with a micro-grid for
1号楼) and 第二网格 (幸福里 4–6号楼, 阳光花园); staff on every rung of the ladder.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from minsheng.enums import Category, Channel, GridLevel, StaffRole
from minsheng.models import Grid, Staff, TimeLimit
from minsheng.places import Place
from minsheng.services.contract import NewCase, ResidentRef

HOME = Place("幸福里小区", "3号楼", "2单元", "502")
T0 = datetime(2026, 11, 22, 2, 0, 0)  # 10:00 in Shanghai


@dataclass
class World:
    grids: dict[str, int]
    staff: dict[str, int]


GRIDS = [
    # code, name, level, parent, xiaoqu, buildings, (lat, lon)
    ("D1", "新华区", GridLevel.district, None, [], [], None),
    ("S1", "和平街道", GridLevel.street, "D1", [], [], None),
    ("C1", "幸福社区", GridLevel.community, "S1", ["幸福里小区", "阳光花园"], [], None),
    ("G1", "幸福社区第一网格", GridLevel.grid, "C1", ["幸福里"],
     ["幸福里:2号楼", "幸福里:3栋"], (38.0010, 114.5010)),
    ("G1M1", "第一网格1号楼微网格", GridLevel.micro_grid, "G1", [], ["幸福里:1号楼"], None),
    ("G2", "幸福社区第二网格", GridLevel.grid, "C1", ["幸福里", "阳光花园"],
     ["幸福里:4号楼", "幸福里:5号楼", "6号楼"], (38.0200, 114.5200)),
]

STAFF = [
    # key, name, role, grid, telegram id
    ("worker1", "王芳", StaffRole.grid_worker, "G1", 9001),
    ("worker1b", "孙丽", StaffRole.grid_worker, "G1", 9002),
    ("worker2", "李强", StaffRole.grid_worker, "G2", 9003),
    ("leader1", "赵敏", StaffRole.grid_leader, "G1", 9004),
    ("desk", "周社区", StaffRole.community, "C1", 9005),
    ("police", "吴警官", StaffRole.police_liaison, "C1", 9006),
    ("enforcement", "郑执法", StaffRole.enforcement, "S1", 9007),
    ("street", "钱街道", StaffRole.street, "S1", 9008),
    ("department", "冯住建", StaffRole.department, "D1", 9009),
    ("admin", "管理员", StaffRole.admin, "D1", None),
]


def build_world(db, with_rules: bool = True) -> World:
    from minsheng.services.routing import ensure_default_rules

    with db.uow() as uow:
        s = uow.session
        grids: dict[str, int] = {}
        for code, name, level, parent, xiaoqu, buildings, point in GRIDS:
            grid = Grid(code=code, name=name, level=level, parent_id=grids.get(parent),
                        xiaoqu=xiaoqu, buildings=buildings,
                        lat=point[0] if point else None, lon=point[1] if point else None)
            s.add(grid)
            s.flush()
            grids[code] = grid.id
        staff: dict[str, int] = {}
        for key, name, role, grid_code, tg in STAFF:
            member = Staff(name=name, public_name=f"{name[0]}{role.value}", role=role,
                           grid_id=grids[grid_code], telegram_user_id=tg,
                           duty_phone=f"0311-80{len(staff):05d}")
            s.add(member)
            s.flush()
            staff[key] = member.id
        if with_rules:
            ensure_default_rules(s)
        uow.commit()
    return World(grids, staff)


def clock_limits(db, category: Category = Category.clutter, ack_hours: int = 2,
                 resolve_hours: int = 48) -> None:
    """A TimeLimit row in clock hours, for tests about fractions of a limit rather than
    about the working calendar (services/limits.py counts working time by default)."""
    with db.uow() as uow:
        uow.session.add(TimeLimit(category=category, urgent=False, ack_amount=ack_hours,
                                  ack_unit="hours", resolve_amount=resolve_hours,
                                  resolve_unit="hours"))
        uow.commit()


def resident(n: int = 1, channel: Channel = Channel.telegram) -> ResidentRef:
    return ResidentRef(channel, str(700000 + n), display_name=f"居民{n}")


def report(key: str | None = "msg-1", *, category: Category = Category.clutter,
           place: Place | None = HOME,
           who: ResidentRef | None = None, **overrides) -> NewCase:
    values = {"channel": Channel.telegram, "idempotency_key": key, "description": "楼道堆满杂物",
                  "category": category, "place": place, "address": None, "lat": None, "lon": None,
                  "phone": "13812345678", "resident": who if who is not None else resident(1)}
    values.update(overrides)
    return NewCase(**values)


def jpeg_bytes(width: int = 8, height: int = 6) -> bytes:
    """A real, tiny JPEG photo."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A few hundred bytes of PNG whose header claims ``width`` × ``height`` pixels."""
    import io
    import struct
    import zlib

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    ihdr = 8  # after the signature: length (4), b"IHDR" (4), then width and height
    data[ihdr + 8:ihdr + 16] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr + 4:ihdr + 8 + 13]))
    data[ihdr + 8 + 13:ihdr + 8 + 17] = struct.pack(">I", crc)
    return bytes(data)
