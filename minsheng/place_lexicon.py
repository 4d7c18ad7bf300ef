"""The place names the grid table knows, as one lexicon for the NLU and for routing.

Built from the grids: each estate (小区) in a coverage list, in full and without its 小区
("幸福里小区", "幸福里"), each alias ("老纺织宿舍=幸福里小区"), each landmark or road
("菜市场", "实验小学", "建设路"), each named building ("幸福里:综合楼"), and the street
offices' names (jieba only). ``grid_import`` writes it to ``settings.place_lexicon_path``
after every change; the Rasa process re-reads that file when it changes (``LexiconFile``),
so a new estate is recognised without retraining. Routing builds it from the rows it has
already loaded.
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from minsheng.enums import GridLevel
from minsheng.places import normalize_building, normalize_xiaoqu

ESTATE, ALIAS, LANDMARK, BUILDING, STREET = "xiaoqu", "alias", "landmark", "building", "street"
MIN_LENGTH = 2  # one character names nothing reliably
# Words that are no one place's name ("花园小区" shortened): never matched, never given to or
# taken from jieba, whose general dictionary (nlu/dict) has them.
GENERIC = frozenset({"小区", "花园", "家园", "社区", "公园", "新村", "公寓", "大院", "村"})
_ALIAS = re.compile(r"\s*[=＝]\s*")


@dataclass(frozen=True)
class PlaceName:
    name: str  # as residents write it
    kind: str  # ESTATE, ALIAS, LANDMARK, BUILDING or STREET
    value: str  # what it stands for: the estate as the coverage list writes it, else the name
    grids: tuple[str, ...] = ()  # codes of the grids that list it


@dataclass(frozen=True)
class Hit:
    start: int
    end: int
    place: PlaceName


def parse_alias(entry: str) -> tuple[str, str] | None:
    """'老纺织宿舍=幸福里小区' → ('老纺织宿舍', '幸福里小区'); None when not of that form."""
    parts = _ALIAS.split(str(entry).strip())
    if len(parts) != 2 or not all(parts):
        return None
    return parts[0], parts[1]


class PlaceLexicon:
    """Names → PlaceName; ``find`` picks the longest names first, left to right."""

    def __init__(self, places: list[PlaceName]):
        self.places = {p.name: p for p in places
                       if len(p.name) >= MIN_LENGTH and p.name not in GENERIC}
        names = sorted(self.places, key=lambda n: (-len(n), n))
        self._pattern = re.compile("|".join(map(re.escape, names))) if names else None

    def __len__(self) -> int:
        return len(self.places)

    def find(self, text: str, kinds: tuple[str, ...] = (ESTATE, ALIAS, LANDMARK, BUILDING)
             ) -> list[Hit]:
        if self._pattern is None or not text:
            return []
        return [Hit(m.start(), m.end(), self.places[m.group(0)])
                for m in self._pattern.finditer(text) if self.places[m.group(0)].kind in kinds]

    def words(self) -> list[str]:
        """Every name, for the jieba user dictionary."""
        return sorted(self.places)

    def to_json(self) -> str:
        rows = [asdict(p) for p in sorted(self.places.values(), key=lambda p: p.name)]
        return json.dumps({"places": rows}, ensure_ascii=False, indent=0)

    @classmethod
    def from_json(cls, text: str) -> PlaceLexicon:
        rows = json.loads(text).get("places") or []
        return cls([PlaceName(r["name"], r["kind"], r["value"], tuple(r.get("grids") or ()))
                    for r in rows])


def _add(found: dict, name: str, kind: str, value: str, code: str) -> None:
    name = re.sub(r"\s+", "", name)
    key = (name, kind, value)
    found.setdefault(key, set()).add(code)


def build(grids) -> PlaceLexicon:
    """The lexicon of these Grid rows. A name listed as an estate wins over the same name
    as an alias or landmark; the grids that list a name are kept for routing."""
    found: dict[tuple[str, str, str], set[str]] = {}
    for grid in grids:
        for estate in grid.xiaoqu or []:
            estate = re.sub(r"\s+", "", str(estate))
            _add(found, estate, ESTATE, estate, grid.code)
            _add(found, normalize_xiaoqu(estate), ESTATE, estate, grid.code)
        for entry in getattr(grid, "aliases", None) or []:
            pair = parse_alias(entry)
            if pair:
                _add(found, pair[0], ALIAS, pair[1], grid.code)
        for landmark in getattr(grid, "landmarks", None) or []:
            _add(found, str(landmark), LANDMARK, re.sub(r"\s+", "", str(landmark)), grid.code)
        for entry in grid.buildings or []:
            estate, _sep, building = str(entry).replace("：", ":").rpartition(":")
            if building.strip() and normalize_building(building) is None:  # 综合楼, not 3号楼
                _add(found, building, BUILDING, building.strip(), grid.code)
        if GridLevel(grid.level) == GridLevel.street:
            _add(found, grid.name, STREET, grid.name, grid.code)
    rank = {ESTATE: 0, ALIAS: 1, LANDMARK: 2, BUILDING: 3, STREET: 4}
    chosen: dict[str, PlaceName] = {}
    for (name, kind, value), codes in sorted(found.items(), key=lambda kv: rank[kv[0][1]]):
        if name not in chosen:
            chosen[name] = PlaceName(name, kind, value, tuple(sorted(codes)))
    return PlaceLexicon(list(chosen.values()))


def write(lexicon: PlaceLexicon, path: Path) -> None:
    """Replace the file in one step, so a reader never sees half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(lexicon.to_json(), encoding="utf-8")
    os.replace(partial, path)


def refresh(session, path: Path) -> PlaceLexicon:
    """Rebuild the lexicon file from the grid table."""
    from sqlalchemy import select

    from minsheng.models import Grid

    lexicon = build(session.execute(select(Grid).order_by(Grid.id)).scalars())
    write(lexicon, path)
    return lexicon


class LexiconFile:
    """The lexicon in ``path``, re-read when the file changes (looked at most once a second)."""

    def __init__(self, path: Path, check_every: float = 1.0):
        self.path, self.check_every = Path(path), check_every
        self._seen: tuple | None = None
        self._checked = float("-inf")
        self.lexicon = PlaceLexicon([])

    def current(self) -> PlaceLexicon:
        now = time.monotonic()
        if now - self._checked >= self.check_every:
            self._checked = now
            self._reload_if_changed()
        return self.lexicon

    def _reload_if_changed(self) -> None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._seen, self.lexicon = None, PlaceLexicon([])
            return
        seen = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if seen != self._seen:
            self.lexicon = PlaceLexicon.from_json(self.path.read_text(encoding="utf-8"))
            self._seen = seen
