"""One message, several problems: cut it into parts and decide which are separate problems.

``cut`` finds the places a second problem may start: a sentence end, a connective
(另外, 还有, 此外, 同时, 再就是, 顺便说一下 …), an enumeration (一是/二是, 1./2., ①②, 第一/第二)
or, weakest, a comma. ``split_problems`` then asks the classifier about every piece on its
own and keeps a piece apart only when it carries a complaint of its own: a report category
with enough confidence — more for weaker cuts, because a long single letter also has
several sentences — and not the category and place of the problem before it. Pieces that
say nothing on their own ("已经三天了", "希望尽快处理") stay with the problem they follow.
Parts of the same category are one problem unless they name different places.

The classifier is passed in (``Classify``: text → Rasa's ``intent_ranking``): the Rasa
server splits a message while it parses it (nlu/split_at_parse.py) and the evaluation with
a model loaded in-process. ``problem_dicts`` is the result as the message's parse data
carries it (``PROBLEMS``) to the action server. No Rasa import.
"""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from minsheng.places import Place, parse_place
from nlu.decision import OUT_OF_SCOPE, label_of_intent

Classify = Callable[[str], Awaitable[list[dict]]]

CONNECTIVES = ("顺便说一下", "顺便说下", "顺便提一下", "顺便反映一下", "顺便再说", "顺便",
               "除此之外", "除此以外", "另外", "此外", "还有就是", "还有", "再就是", "再有",
               "再一个", "另一个", "另一件", "同时", "其次", "再者", "最后")
ENUMERATION = re.compile(
    r"(?:[一二三四五六七八九十]是|第[一二三四五六七八九十][个点条件，、：:]?|"
    r"(?<![0-9])[1-9][.、．)）](?![0-9])|[①②③④⑤⑥⑦⑧⑨]|[（(][1-9一二三四五六七八九][)）])"
)
SENTENCE_END = "。！？!?；;\n"
CLAUSE_END = SENTENCE_END + "，,、：: "

# How sure the classifier must be that a piece is a report of its own, by the kind of cut
# before it: a resident who writes 另外 or 2. is announcing another thing; a comma rarely is.
MIN_CONFIDENCE = {"connective": 0.45, "enumeration": 0.45, "sentence": 0.6, "comma": 0.8}
MIN_CHARS = 5  # "也很臭", "堆在门口" are remarks about the problem before, not problems
PROBLEMS = "problems"  # the key of a message's parse data that holds its problems
PLACE_PARTS = ("xiaoqu", "building", "unit", "room")
PART_TRAILING = "，,、；;：: "  # what a part's text does not end with (。！？ it may)


@dataclass(frozen=True)
class Piece:
    text: str
    cut: str  # "start", "sentence", "connective", "enumeration" or "comma"


@dataclass
class Problem:
    text: str
    category: str | None
    confidence: float
    place: Place = field(default_factory=Place)


@dataclass(frozen=True)
class SplitResult:
    problems: list[Problem]

    @property
    def several(self) -> bool:
        return len(self.problems) > 1


def _cut_kind(text: str, start: int) -> str | None:
    """What kind of cut lies just before ``start`` (None: no cut there)."""
    before = text[start - 1] if start else ""
    at_clause_start = start == 0 or before in CLAUSE_END
    rest = text[start:]
    if at_clause_start and ENUMERATION.match(rest):
        return "enumeration"
    if at_clause_start and rest.startswith(CONNECTIVES):
        return "connective"
    if start and before in SENTENCE_END:
        return "sentence"
    if start and before in "，,":
        return "comma"
    return None


def cut(text: str) -> list[Piece]:
    """The message in pieces, each with the kind of cut before it; punctuation kept."""
    text = (text or "").strip()
    pieces: list[Piece] = []
    begin, kind = 0, "start"
    for i in range(1, len(text)):
        found = _cut_kind(text, i)
        if found and text[begin:i].strip(CLAUSE_END + " "):
            pieces.append(Piece(text[begin:i].strip(), kind))
            begin, kind = i, found
        elif found and found != "comma":
            kind = found if kind in ("start", "comma", "sentence") else kind
    if text[begin:].strip(CLAUSE_END + " "):
        pieces.append(Piece(text[begin:].strip(), kind))
    return pieces or ([Piece(text, "start")] if text else [])


def top_report(ranking: list[dict]) -> tuple[str | None, float]:
    """The category the classifier puts first, with its confidence (None: not a report)."""
    rows = [r for r in ranking if r.get("name") != "nlu_fallback"]
    if not rows:
        return None, 0.0
    best = max(rows, key=lambda r: r.get("confidence") or 0.0)
    label = label_of_intent(best.get("name", ""))
    return (None if label == OUT_OF_SCOPE else label), float(best.get("confidence") or 0.0)


def _places_differ(a: Place, b: Place) -> bool:
    """Both name a place and the places are not the same one."""
    if a.is_empty or b.is_empty:
        return False
    if a.xiaoqu and b.xiaoqu and a.xiaoqu != b.xiaoqu:
        return True
    return bool(a.building and b.building and a.building != b.building)


def _join(a: str, b: str) -> str:
    return a + ("" if a.endswith(tuple(CLAUSE_END)) else "，") + b


def _same_problem(a: Problem, b: Problem) -> bool:
    return a.category == b.category and not _places_differ(a.place, b.place)


async def _grouped(pieces: list[Piece], classify: Classify) -> list[Problem]:
    """Left to right: a piece starts a new problem only when it carries its own complaint."""
    problems: list[Problem] = []
    for piece in pieces:
        category, confidence = top_report(await classify(piece.text))
        own = Problem(piece.text, category, confidence, parse_place(piece.text))
        standalone = (category is not None and len(piece.text.strip(CLAUSE_END)) >= MIN_CHARS
                      and confidence >= MIN_CONFIDENCE.get(piece.cut, 1.0))
        current = problems[-1] if problems else None
        if current is None:
            problems.append(own)
        elif current.category is None:  # an opening such as "反映两个问题：" joins what follows
            problems[-1] = replace(own, text=_join(current.text, piece.text),
                                   place=current.place if own.place.is_empty else own.place)
        elif not standalone or _same_problem(current, own):
            current.text = _join(current.text, piece.text)
            current.place = current.place if not current.place.is_empty else own.place
        else:
            problems.append(own)
    return problems


def _merge_same(problems: list[Problem]) -> list[Problem]:
    """Two parts of one category and one place are one problem, wherever they stand."""
    merged: list[Problem] = []
    for problem in problems:
        twin = next((m for m in merged if _same_problem(m, problem)), None)
        if twin is None:
            merged.append(problem)
        else:
            twin.text = _join(twin.text, problem.text)
            twin.place = twin.place if not twin.place.is_empty else problem.place
    return merged


async def split_problems(text: str, classify: Classify) -> SplitResult:
    """The problems in ``text``: one when it is a single problem (or nothing to split)."""
    pieces = cut(text)
    if len(pieces) < 2:
        return SplitResult([await _whole(text, classify)])
    problems = _merge_same(await _grouped(pieces, classify))
    if len(problems) < 2:
        return SplitResult([await _whole(text, classify)])
    for problem in problems:  # each part is judged again as a whole, as it will be filed
        problem.category, problem.confidence = top_report(await classify(problem.text))
    problems = _merge_same(problems)
    if len(problems) < 2 or any(p.category is None for p in problems):
        return SplitResult([await _whole(text, classify)])
    return SplitResult(problems)


def problem_of(text: str, category: str | None, place: Place | None) -> dict[str, Any]:
    """A problem as plain data: its text, category and the place parts it names itself."""
    return {"text": text, "category": category,
            **{part: getattr(place, part, None) for part in PLACE_PARTS}}


def problem_dicts(result: SplitResult) -> list[dict[str, Any]] | None:
    """The problems of a message that names several, as plain data; None for one problem."""
    if not result.several:
        return None
    # a part cut before 另外 or a number keeps the comma it ended with: not in its text
    return [problem_of(p.text.rstrip(PART_TRAILING), p.category, p.place)
            for p in result.problems]


async def _whole(text: str, classify: Classify) -> Problem:
    category, confidence = top_report(await classify(text))
    return Problem(text.strip(), category, confidence, parse_place(text))
