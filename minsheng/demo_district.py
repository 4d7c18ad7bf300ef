"""The demo district for ``minsheng seed demo``: shaped like the published reports.

One street, two communities, six grids each with two micro-grids, a few hundred buildings,
and fourteen staff on every rung of the ladder (with duty phones, as on the 公示牌); each
grid has a rectangular boundary (polygon) around its centre for the dashboard's map.
Everything is upserted by code or (name, grid), so seeding twice adds nothing.
"""
from __future__ import annotations

from sqlalchemy import select

from minsheng.enums import GridLevel, StaffRole
from minsheng.models import Grid, Staff

DISTRICT = ("130105", "新华区")
STREET = ("130105001", "和平街道")
# community code, name, [(grid name, [(小区, buildings)], (lat, lon))]
COMMUNITIES = [
    ("130105001001", "幸福社区", [
        ("第一网格", [("幸福里小区", 24), ("和平家园", 18)], (38.0480, 114.4810)),
        ("第二网格", [("建设新村", 36)], (38.0510, 114.4860)),
        ("第三网格", [("康宁小区", 30), ("光明里", 12)], (38.0455, 114.4905)),
    ]),
    ("130105001002", "阳光社区", [
        ("第四网格", [("阳光花园", 40)], (38.0560, 114.4950)),
        ("第五网格", [("翠湖苑", 28), ("书香园", 16)], (38.0600, 114.5010)),
        ("第六网格", [("裕华新城", 44)], (38.0630, 114.5075)),
    ]),
]
# name, public name, role, grid code (None: filled per grid), duty phone
STAFF = [
    ("王芳", "王网格员", StaffRole.grid_worker, "130105001001001", "0311-86010001"),
    ("李强", "李网格员", StaffRole.grid_worker, "130105001001002", "0311-86010002"),
    ("张丽", "张网格员", StaffRole.grid_worker, "130105001001003", "0311-86010003"),
    ("刘洋", "刘网格员", StaffRole.grid_worker, "130105001002001", "0311-86010004"),
    ("陈静", "陈网格员", StaffRole.grid_worker, "130105001002002", "0311-86010005"),
    ("杨帆", "杨网格员", StaffRole.grid_worker, "130105001002003", "0311-86010006"),
    ("赵敏", "赵网格长", StaffRole.grid_leader, "130105001001", "0311-86010011"),
    ("孙伟", "孙网格长", StaffRole.grid_leader, "130105001002", "0311-86010012"),
    ("周红", "幸福社区服务台", StaffRole.community, "130105001001", "0311-86010021"),
    ("吴刚", "阳光社区服务台", StaffRole.community, "130105001002", "0311-86010022"),
    ("郑明", "和平街道综治中心", StaffRole.street, "130105001", "0311-86010031"),
    ("冯警官", "社区民警冯警官", StaffRole.police_liaison, "130105001", "0311-86010110"),
    ("钱队", "综合执法队", StaffRole.enforcement, "130105001", "0311-86010041"),
    ("褚科", "区住建局", StaffRole.department, "130105", "0311-86010051"),
]


# Half the height and width (degrees) of a grid's rectangle around its centre: small enough
# that no two demo grids overlap, so a shared location inside one routes to it.
HALF_LAT, HALF_LON = 0.0014, 0.0024


def outline(lat: float, lon: float) -> list[list[float]]:
    """A grid's boundary as [[lat, lon], ...] (the dashboard's map draws it)."""
    return [[round(lat + a * HALF_LAT, 6), round(lon + b * HALF_LON, 6)]
            for a, b in ((-1, -1), (-1, 1), (1, 1), (1, -1))]


def grid_rows() -> list[dict]:
    """The grid tree as import rows (parents first)."""
    rows = [{"code": DISTRICT[0], "name": DISTRICT[1], "level": GridLevel.district},
            {"code": STREET[0], "name": STREET[1], "level": GridLevel.street,
             "parent_code": DISTRICT[0]}]
    for c_code, c_name, grids in COMMUNITIES:
        estates = [x for _, places, _ in grids for x, _ in places]
        rows.append({"code": c_code, "name": c_name, "level": GridLevel.community,
                     "parent_code": STREET[0], "xiaoqu": estates})
        for g_index, (g_name, places, (lat, lon)) in enumerate(grids, start=1):
            g_code = f"{c_code}{g_index:03d}"
            buildings = [f"{x}:{n}号楼" for x, count in places for n in range(1, count + 1)]
            rows.append({"code": g_code, "name": f"{c_name}{g_name}", "level": GridLevel.grid,
                         "parent_code": c_code, "xiaoqu": [x for x, _ in places],
                         "buildings": buildings, "lat": lat, "lon": lon,
                         "polygon": outline(lat, lon)})
            half = len(buildings) // 2
            for m_index, part in enumerate((buildings[:half], buildings[half:]), start=1):
                rows.append({"code": f"{g_code}{m_index:02d}",
                             "name": f"{c_name}{g_name}第{m_index}微网格",
                             "level": GridLevel.micro_grid, "parent_code": g_code,
                             "buildings": part})
    return rows


def seed_staff(uow) -> int:
    """Upsert the staff by (name, grid); returns how many were added."""
    session = uow.session
    grids = {g.code: g.id for g in session.execute(select(Grid)).scalars()}
    added = 0
    for name, public, role, grid_code, phone in STAFF:
        grid_id = grids[grid_code]
        member = session.execute(select(Staff).where(
            Staff.name == name, Staff.grid_id == grid_id)).scalar_one_or_none()
        if member is None:
            session.add(Staff(name=name, public_name=public, role=role, grid_id=grid_id,
                              duty_phone=phone, on_duty=True, active=True))
            added += 1
    session.flush()
    return added


def all_buildings() -> list[tuple[str, str]]:
    """(小区, 楼栋) of every covered building, for realistic report places."""
    return [(x, f"{n}号楼") for _, _, grids in COMMUNITIES for _, places, _ in grids
            for x, count in places for n in range(1, count + 1)]
