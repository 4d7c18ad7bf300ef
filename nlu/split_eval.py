"""Measuring the splitter on the team's set (tests/nlu/multi_problem.tsv).

A two-problem message is split right when it gives exactly its expected parts, each in its
expected category (in order); a single-problem message is right when it stays whole.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from nlu.split import Classify, split_problems

SET = Path(__file__).resolve().parents[1] / "tests" / "nlu" / "multi_problem.tsv"


@dataclass(frozen=True)
class Row:
    id: str
    kind: str  # "several" or "single"
    categories: tuple[str, ...]
    half: str  # "dev" (tuned on), "test" (only reported), "fresh" (written after the tuning)
    text: str


@dataclass
class Score:
    several_right: int = 0
    several: int = 0
    single_right: int = 0
    single: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def split_rate(self) -> float:
        return self.several_right / self.several if self.several else 0.0

    @property
    def whole_rate(self) -> float:
        return self.single_right / self.single if self.single else 0.0


def load_set(path: Path = SET) -> list[Row]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [Row(r["id"], r["kind"], tuple(r["categories"].split(",")), r["half"], r["text"])
                for r in csv.DictReader(handle, delimiter="\t")]


async def measure(rows: list[Row], classify: Classify) -> Score:
    score = Score()
    for row in rows:
        result = await split_problems(row.text, classify)
        got = tuple(p.category or "?" for p in result.problems)
        if row.kind == "several":
            score.several += 1
            right = got == row.categories
            score.several_right += right
        else:
            score.single += 1
            right = not result.several
            score.single_right += right
        if not right:
            parts = " | ".join(f"{p.text}（{p.category}）" for p in result.problems)
            score.misses.append(f"{row.id} expected {','.join(row.categories)}: {parts}")
    return score
