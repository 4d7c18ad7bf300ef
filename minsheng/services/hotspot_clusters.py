"""Grouping reports that are about one problem: same category, same place, similar words.

Plain data in, groups out (no database), so that the service, the evaluation script
(scripts/eval_hotspots.py) and the tests run the very same code.

1. Blocks: within a category, reports share a block when they name the same estate
   (小区, normalised; an alias from the grid table counts as its estate), lie within
   ``distance_m`` of each other (map locations), or —
   having neither — were routed to the same grid.
2. Inside a block, the descriptions are compared as TF-IDF vectors of character 1–2-grams
   (place words and numbers removed first: the estate is already known, and "3号楼" in
   two texts says nothing about the problem). Two reports naming two different buildings
   are pulled apart by ``OTHER_BUILDING``, the same building brings them closer.
3. Average-linkage clustering cuts the block where the mean similarity falls below the
   threshold (average, not single linkage: one vague text must not chain two problems).
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from minsheng.places import normalize_building, normalize_xiaoqu

from .routing import distance_km

# Chosen on tests/unit/hotspot_cases.yml with scripts/eval_hotspots.py (docs/hotspots.md).
DEFAULT_THRESHOLD = 0.08
SAME_BUILDING = 0.05
OTHER_BUILDING = -0.10
NGRAMS = (1, 2)
EARTH_RADIUS_M = 6_371_000.0
# Numbers, with or without a unit (3号楼, 2单元, 501); Chinese numerals only with one (三号楼):
# alone they are words (一直, 两家, 十分).
_UNIT = r"(?:号楼|号院|号|栋|幢|座|单元|室|层|楼|期|区)"
_PLACE_BITS = re.compile(
    rf"[0-9０-９A-Za-z]+\s*{_UNIT}?|[一二三四五六七八九十两零〇百]+\s*{_UNIT}")
_NOISE = re.compile(r"[\s，。,.!！？?、；;：:（）()“”\"'《》【】\-—~～…]+")


@dataclass(frozen=True)
class Report:
    """One case as the clustering sees it."""

    key: int  # the case id (or a row number in the evaluation set)
    category: str
    text: str
    xiaoqu: str | None = None
    building: str | None = None
    lat: float | None = None
    lon: float | None = None
    grid_id: int | None = None
    alias_of: str | None = None  # the estate (normalised) the grid table says xiaoqu names

    @property
    def estate(self) -> str | None:
        return self.alias_of or (_estate(self.xiaoqu) if self.xiaoqu else None)

    @property
    def building_key(self) -> str | None:
        return _building(self.building) if self.building else None

    @property
    def has_point(self) -> bool:
        return self.lat is not None and self.lon is not None


# Estate and building names repeat across thousands of reports: normalise each name once.
@lru_cache(maxsize=4096)
def _estate(name: str) -> str:
    return normalize_xiaoqu(name)


@lru_cache(maxsize=4096)
def _building(name: str) -> str:
    return normalize_building(name) or name


def problem_words(report: Report) -> str:
    """The description without its place: estate names, numbers, 楼栋/单元/室 and punctuation."""
    text = report.text or ""
    for name in sorted({report.xiaoqu, report.estate} - {None}, key=len, reverse=True):
        text = text.replace(name, " ")
    text = _PLACE_BITS.sub(" ", text)
    return _NOISE.sub(" ", text).strip()


def metres(a: Report, b: Report) -> float:
    """Distance between two reports with a map location (routing's great-circle formula)."""
    return distance_km(a.lat, a.lon, b.lat, b.lon) * 1000.0


class _Union:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, i: int, j: int) -> None:
        self.parent[self.find(i)] = self.find(j)


def _near_pairs(reports: list[Report], indices: list[int], distance_m: float):
    """Pairs of located reports within ``distance_m``: cells of about that size, each
    compared with its neighbours only (no all-pairs scan of a whole district)."""
    cell = max(distance_m, 1.0) / 111_000.0  # degrees of latitude
    cells: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i in indices:
        cells[int(reports[i].lat // cell), int(reports[i].lon // cell)].append(i)
    for (row, col), members in cells.items():
        for dr in (-1, 0, 1):
            for dc in (-2, -1, 0, 1, 2):  # a degree of longitude is shorter in the north
                for j in cells.get((row + dr, col + dc), []):
                    for i in members:
                        if i < j and metres(reports[i], reports[j]) <= distance_m:
                            yield i, j


def blocks(reports: list[Report], distance_m: float) -> list[list[int]]:
    """Indices of reports that may be about the same place and category (see module doc)."""
    union = _Union(len(reports))
    first_of: dict[tuple, int] = {}
    by_category: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(reports):
        by_category[r.category].append(i)
        if r.estate:
            place = ("estate", r.category, r.estate)
        elif not r.has_point and r.grid_id is not None:
            place = ("grid", r.category, r.grid_id)
        else:
            continue
        union.join(i, first_of.setdefault(place, i))
    for members in by_category.values():
        located = [i for i in members if reports[i].has_point]
        for i, j in _near_pairs(reports, located, distance_m):
            union.join(i, j)
    groups: dict[int, list[int]] = defaultdict(list)
    for i, r in enumerate(reports):
        if r.estate or r.has_point or r.grid_id is not None:
            groups[union.find(i)].append(i)
    return list(groups.values())


def _codes(values: list) -> np.ndarray:
    """Equal values get equal integer codes; None gets -1 (equal to nothing)."""
    seen: dict = {}
    return np.array([-1 if v is None else seen.setdefault(v, len(seen)) for v in values])


def _equal(codes: np.ndarray) -> np.ndarray:
    return (codes[:, None] == codes[None, :]) & (codes[:, None] >= 0)


def _metres_matrix(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """distance_km's formula for every pair of a block at once (numpy)."""
    lat, lon = np.radians(lat), np.radians(lon)
    h = (np.sin((lat[:, None] - lat[None, :]) / 2) ** 2 + np.cos(lat[:, None])
         * np.cos(lat[None, :]) * np.sin((lon[:, None] - lon[None, :]) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def place_matrix(members: list[Report], distance_m: float) -> np.ndarray:
    """What the place adds to the text similarity of each pair: NaN where the two are not
    at the same place, else the building shift (same building +, another building -)."""
    estate = _codes([r.estate for r in members])
    building = _codes([(r.estate, r.building_key) if r.building_key else None
                       for r in members])
    grid = _codes([None if (r.estate or r.has_point) else r.grid_id for r in members])
    located = np.array([r.has_point for r in members])
    near = np.zeros((len(members), len(members)), dtype=bool)
    if located.sum() > 1:
        lat = np.array([r.lat if r.has_point else 0.0 for r in members], dtype=float)
        lon = np.array([r.lon if r.has_point else 0.0 for r in members], dtype=float)
        near = (located[:, None] & located[None, :]) & (_metres_matrix(lat, lon) <= distance_m)
    same_estate = _equal(estate)
    same = same_estate | near | _equal(grid)
    both_built = (building[:, None] >= 0) & (building[None, :] >= 0) & same_estate
    shift = np.where(both_built, np.where(_equal(building), SAME_BUILDING, OTHER_BUILDING), 0.0)
    return np.where(same, shift, np.nan)


def _split(reports: list[Report], block: list[int], vectors, threshold: float,
           distance_m: float) -> list[list[int]]:
    from scipy.cluster.hierarchy import fcluster, linkage  # here: keeps the web app's start quick
    from scipy.spatial.distance import squareform

    shift = place_matrix([reports[i] for i in block], distance_m)
    sims = (vectors @ vectors.T).toarray() + shift  # rows are L2-normalised: dot = cosine
    sims = np.clip(np.nan_to_num(sims, nan=0.0), 0.0, 1.0)
    np.fill_diagonal(sims, 1.0)
    tree = linkage(squareform(1.0 - sims, checks=False), method="average")
    labels = fcluster(tree, t=1.0 - threshold, criterion="distance")
    groups: dict[int, list[int]] = defaultdict(list)
    for x, label in enumerate(labels):
        groups[label].append(block[x])
    return list(groups.values())


def cluster(reports: list[Report], threshold: float = DEFAULT_THRESHOLD,
            distance_m: float = 150.0) -> list[list[int]]:
    """Groups of indices into ``reports``; a report with no place at all is left out, a
    report alike to none is a group of one."""
    found: list[list[int]] = []
    pending = []
    for block in blocks(reports, distance_m):
        (found if len(block) == 1 else pending).append(block)
    if not pending:
        return found
    # imported here, not at the top: scikit-learn would add seconds to every web app start
    from sklearn.feature_extraction.text import TfidfVectorizer

    # IDF from the reports being compared: words every report uses weigh little
    order = [i for block in pending for i in block]
    vectors = TfidfVectorizer(analyzer="char", ngram_range=NGRAMS, sublinear_tf=True) \
        .fit_transform([problem_words(reports[i]) or reports[i].text or "" for i in order])
    start = 0
    for block in pending:
        found.extend(_split(reports, block, vectors[start:start + len(block)], threshold,
                            distance_m))
        start += len(block)
    return found
