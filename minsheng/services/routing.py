"""Place → grid node → staff. Category rules inform (or replace) extra staff.

Order of evidence: 小区+楼栋 in a grid's coverage list, then 小区 alone (when only one grid
covers it); an estate named by one of its aliases counts as the estate. Then the names the
grid table knows (minsheng.place_lexicon) found in the address text: an estate or alias, else
a landmark or road a grid lists. Then a shared location (inside a polygon, else the nearest
grid within ``NEAREST_KM``), else the community desk. Among a node's staff: on-duty first,
then the fewest open cases.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from minsheng.enums import Category, EscalationLevel, GridLevel, StaffRole
from minsheng.models import Grid, RoutingRule, Staff
from minsheng.place_lexicon import ALIAS, ESTATE, LANDMARK, PlaceLexicon, build, parse_alias
from minsheng.places import Place, normalize_building, normalize_xiaoqu, parse_place

from .common import ancestors, pick_staff, staff_of

NEAREST_KM = 2.0
DEPTH = {GridLevel.district: 0, GridLevel.street: 1, GridLevel.community: 2,
         GridLevel.grid: 3, GridLevel.micro_grid: 4}
# Who works a case at a node of this level, in order of preference.
NODE_ROLES = {
    GridLevel.micro_grid: [{StaffRole.grid_worker}, {StaffRole.grid_leader}],
    GridLevel.grid: [{StaffRole.grid_worker}, {StaffRole.grid_leader}],
    GridLevel.community: [{StaffRole.community}],
    GridLevel.street: [{StaffRole.street}],
    GridLevel.district: [{StaffRole.street}, {StaffRole.admin}],
}
LEVEL_OF_ROLE = {
    StaffRole.grid_worker: EscalationLevel.grid,
    StaffRole.grid_leader: EscalationLevel.grid_leader,
    StaffRole.community: EscalationLevel.community,
    StaffRole.police_liaison: EscalationLevel.community,
    StaffRole.enforcement: EscalationLevel.community,
    StaffRole.street: EscalationLevel.street,
    StaffRole.admin: EscalationLevel.street,
    StaffRole.department: EscalationLevel.referral,
}
ROLE_OF_LEVEL = {
    EscalationLevel.grid: StaffRole.grid_worker,
    EscalationLevel.grid_leader: StaffRole.grid_leader,
    EscalationLevel.community: StaffRole.community,
    EscalationLevel.street: StaffRole.street,
    EscalationLevel.referral: StaffRole.department,
}
DEFAULT_RULES = [(Category.public_order, "inform", StaffRole.police_liaison),
                 (Category.illegal_construction, "inform", StaffRole.enforcement)]


@dataclass
class Route:
    grid: Grid | None
    assignee: Staff | None
    informed: list[Staff] = field(default_factory=list)
    matched_by: str = "desk"  # building | xiaoqu | landmark | polygon | nearest | desk

    @property
    def level(self) -> EscalationLevel:
        if self.assignee is None:
            return EscalationLevel.community
        return LEVEL_OF_ROLE[StaffRole(self.assignee.role)]


def _coverage(grid: Grid) -> tuple[tuple[str | None, str], ...]:
    return _parse_coverage(tuple(grid.buildings or ()))


@lru_cache(maxsize=4096)
def _parse_coverage(entries: tuple) -> tuple[tuple[str | None, str], ...]:
    """(小区 or None, normal 楼栋) pairs from entries like '幸福里:3号楼' or '3栋'.

    Cached by content: coverage lists change rarely and are read on every report.
    """
    pairs = []
    for entry in entries:
        xiaoqu, sep, building = str(entry).replace("：", ":").rpartition(":")
        normal = normalize_building(building) or building.strip()
        pairs.append((normalize_xiaoqu(xiaoqu) if sep and xiaoqu else None, normal))
    return tuple(pairs)


def _covers_xiaoqu(grid: Grid, xiaoqu: str) -> bool:
    return xiaoqu in {normalize_xiaoqu(x) for x in grid.xiaoqu or []}


def _deepest(grids: list[Grid]) -> Grid | None:
    return max(grids, key=lambda g: (DEPTH[GridLevel(g.level)], -g.id), default=None)


def estate_of_alias(grids: list[Grid]) -> dict[str, str]:
    """normal alias → normal estate, from every grid's '别名=小区' entries."""
    estates = {}
    for grid in grids:
        for entry in grid.aliases or []:
            pair = parse_alias(entry)
            if pair:
                estates[normalize_xiaoqu(pair[0])] = normalize_xiaoqu(pair[1])
    return estates


def _one_of(grids: list[Grid], hits: list[Grid]) -> Grid | None:
    """The working grid among ``hits``; several: the community above them, as for an estate."""
    working = [g for g in hits if DEPTH[GridLevel(g.level)] >= DEPTH[GridLevel.grid]]
    if len(working) == 1:
        return working[0]
    shallow = [g for g in hits if DEPTH[GridLevel(g.level)] <= DEPTH[GridLevel.community]]
    if shallow:
        return _deepest(shallow)
    parent_ids = {w.parent_id for w in working}
    parents = [g for g in grids if g.id in parent_ids]
    return _deepest(parents) if len(parents) == 1 else None


_LAST_LEXICON: dict[tuple, PlaceLexicon] = {}


def _lexicon_of(grids: list[Grid]) -> PlaceLexicon:
    """The grids' lexicon, built again only when a name changed: compiling it takes ~40 ms
    for 3,000 names, finding names in a letter well under 1 ms."""
    key = tuple((g.code, str(g.level), g.name, tuple(g.xiaoqu or ()), tuple(g.buildings or ()),
                 tuple(g.aliases or ()), tuple(g.landmarks or ())) for g in grids)
    if key not in _LAST_LEXICON:
        _LAST_LEXICON.clear()
        _LAST_LEXICON[key] = build(grids)
    return _LAST_LEXICON[key]


def match_named_place(grids: list[Grid], place: Place | None,
                      text: str | None) -> tuple[Grid | None, str]:
    """A name from the grid table in ``text``: an estate or alias (with the place's building,
    if any), else a landmark or road, routed to the grid that lists it."""
    hits = _lexicon_of(grids).find(text or "", kinds=(ESTATE, ALIAS, LANDMARK))
    building = (place.building if place else None) or parse_place(text or "").building
    for hit in hits:
        if hit.place.kind in (ESTATE, ALIAS):
            grid, how = match_place(grids, Place(hit.place.value, building))
            if grid is not None:
                return grid, how
    for hit in hits:
        if hit.place.kind == LANDMARK:
            listed = [g for g in grids if g.code in hit.place.grids]
            grid = _one_of(grids, listed)
            if grid is not None:
                return grid, "landmark"
    return None, "desk"


def match_place(grids: list[Grid], place: Place | None) -> tuple[Grid | None, str]:
    if place is None or place.is_empty:
        return None, "desk"
    xiaoqu = normalize_xiaoqu(place.xiaoqu) if place.xiaoqu else None
    xiaoqu = estate_of_alias(grids).get(xiaoqu, xiaoqu) if xiaoqu else None
    building = (normalize_building(place.building) or place.building) if place.building else None
    if building:
        hits = []
        for grid in grids:
            for cov_xiaoqu, cov_building in _coverage(grid):
                same_estate = (cov_xiaoqu == xiaoqu if cov_xiaoqu
                               else xiaoqu is None or _covers_xiaoqu(grid, xiaoqu))
                if cov_building == building and same_estate:
                    hits.append(grid)
        if hits and (xiaoqu or len({g.id for g in hits}) == 1):
            return _deepest(hits), "building"
    if xiaoqu:
        # several grids share the estate and the building is unknown: the community decides
        grid = _one_of(grids, [g for g in grids if _covers_xiaoqu(g, xiaoqu)])
        if grid is not None:
            return grid, "xiaoqu"
    return None, "desk"


def inside(polygon: list, lat: float, lon: float) -> bool:
    """Ray casting on [[lat, lon], ...]."""
    result, n = False, len(polygon)
    for i in range(n):
        (y1, x1), (y2, x2) = polygon[i], polygon[(i + 1) % n]
        if (y1 > lat) != (y2 > lat) and lon < (x2 - x1) * (lat - y1) / (y2 - y1) + x1:
            result = not result
    return result


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))


def match_location(grids: list[Grid], lat, lon) -> tuple[Grid | None, str]:
    if lat is None or lon is None:
        return None, "desk"
    hits = [g for g in grids if g.polygon and len(g.polygon) >= 3 and inside(g.polygon, lat, lon)]
    if hits:
        return _deepest(hits), "polygon"
    located = [(distance_km(lat, lon, g.lat, g.lon), -DEPTH[GridLevel(g.level)], g.id, g)
               for g in grids if g.lat is not None and g.lon is not None
               and DEPTH[GridLevel(g.level)] >= DEPTH[GridLevel.grid]]
    nearest = min(located, default=None, key=lambda t: t[:3])
    if nearest and nearest[0] <= NEAREST_KM:
        return nearest[3], "nearest"
    return None, "desk"


def community_desk(grids: list[Grid], near: Grid | None, session: Session) -> Grid | None:
    """The community node above ``near``; without a clue, the first community by code."""
    if near is not None:
        for node in ancestors(session, near.id):
            if GridLevel(node.level) == GridLevel.community:
                return node
    communities = sorted((g for g in grids if GridLevel(g.level) == GridLevel.community),
                         key=lambda g: g.code)
    return communities[0] if communities else min(grids, key=lambda g: g.code, default=None)


def worker_for(session: Session, grid: Grid | None) -> Staff | None:
    """The staff member who works cases at ``grid``, walking up while a node has nobody."""
    for node in ancestors(session, grid.id if grid else None):
        for roles in NODE_ROLES[GridLevel(node.level)]:
            chosen = pick_staff(session, staff_of(session, [node.id], roles))
            if chosen is not None:
                return chosen
    return None


def nearest_with_role(session: Session, grid: Grid | None, role: StaffRole) -> Staff | None:
    """Staff of ``role`` on the nearest ancestor node that has one, else anywhere."""
    for node in ancestors(session, grid.id if grid else None):
        chosen = pick_staff(session, staff_of(session, [node.id], {role}))
        if chosen is not None:
            return chosen
    return pick_staff(session, list(session.execute(
        select(Staff).where(Staff.role == role, Staff.active.is_(True))).scalars()))


def route(uow, place: Place | None, lat: float | None, lon: float | None,
          category: Category, address: str | None = None) -> Route:
    """``address``: the place as the resident wrote it, searched for names the grid table
    knows when the place parts match no coverage list."""
    session = uow.session
    grids = list(session.execute(select(Grid).order_by(Grid.id)).scalars())
    grid, how = match_place(grids, place)
    if grid is None:
        text = " ".join(t for t in (place.text() if place else None, address) if t)
        grid, how = match_named_place(grids, place, text)
    if grid is None:
        grid, how = match_location(grids, lat, lon)
    if grid is None:
        grid, how = community_desk(grids, None, session), "desk"
    result = Route(grid=grid, assignee=worker_for(session, grid), matched_by=how)
    rules = session.execute(select(RoutingRule).where(
        RoutingRule.category == Category(category), RoutingRule.active.is_(True))
        .order_by(RoutingRule.id)).scalars()
    for rule in rules:
        member = nearest_with_role(session, grid, StaffRole(rule.staff_role))
        if member is None:
            continue
        if rule.action == "replace":
            result.assignee = member
        elif member.id not in {m.id for m in result.informed}:
            result.informed.append(member)
    if result.assignee is not None:
        result.informed = [m for m in result.informed if m.id != result.assignee.id]
    return result


def ensure_default_rules(session: Session) -> int:
    """Add the default category rules when there are none at all; returns how many added."""
    if session.execute(select(RoutingRule.id).limit(1)).first() is not None:
        return 0
    for category, action, role in DEFAULT_RULES:
        session.add(RoutingRule(category=category, action=action, staff_role=role, active=True))
    return len(DEFAULT_RULES)
