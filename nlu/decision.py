"""Low confidence is a question, not a guess.

``decide_category`` turns Rasa's ``intent_ranking`` into what the dialogue does next:
open a case in one category, or show the seven categories as buttons (best first),
or treat the message as not being a report at all. No Rasa import.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from minsheng.enums import Category

REPORT_PREFIX = "report_"
OUT_OF_SCOPE = "out_of_scope"
FALLBACK_INTENT = "nlu_fallback"
# The codes of minsheng.enums.Category, in their order (tests/nlu/test_category_lists.py
# checks every list that cannot be derived like this one).
CATEGORIES = tuple(c.value for c in Category)
LABELS = CATEGORIES + (OUT_OF_SCOPE,)


def label_of_intent(intent: str) -> str:
    """The 8-label view: report_<category> → category; every other intent → out_of_scope."""
    if intent.startswith(REPORT_PREFIX) and intent[len(REPORT_PREFIX):] in CATEGORIES:
        return intent[len(REPORT_PREFIX):]
    return OUT_OF_SCOPE


@dataclass(frozen=True)
class Candidate:
    category: str
    confidence: float


@dataclass(frozen=True)
class CategoryDecision:
    category: str | None  # decided category, None when asking or when not a report
    confidence: float  # confidence of the top non-fallback intent
    ask_with_buttons: bool
    candidates: list[Candidate] = field(default_factory=list)  # all seven, most likely first


def _ranking_without_fallback(intent_ranking: list[dict]) -> list[dict]:
    ranking = [r for r in intent_ranking if r.get("name") != FALLBACK_INTENT]
    return sorted(ranking, key=lambda r: r.get("confidence") or 0.0, reverse=True)


def category_candidates(intent_ranking: list[dict]) -> list[Candidate]:
    """The seven categories ordered by the classifier's confidence (unranked ones last)."""
    scores = {c: 0.0 for c in CATEGORIES}
    for row in intent_ranking:
        label = label_of_intent(row.get("name", ""))
        if label in scores:
            scores[label] = max(scores[label], float(row.get("confidence") or 0.0))
    ordered = sorted(CATEGORIES, key=lambda c: (-scores[c], CATEGORIES.index(c)))
    return [Candidate(c, scores[c]) for c in ordered]


def decide_category(intent_ranking: list[dict], threshold: float) -> CategoryDecision:
    """Decide, ask, or stay out of it.

    - top intent is a report with confidence ≥ threshold → that category;
    - top intent is a report below the threshold → ask with the seven buttons;
    - top intent is not a report: when the report intents together outweigh the rest
      (≥ 0.5) and the top is below the threshold → ask; otherwise not a report.
    """
    ranking = _ranking_without_fallback(intent_ranking)
    candidates = category_candidates(ranking)
    if not ranking:
        return CategoryDecision(None, 0.0, True, candidates)
    top = ranking[0]
    confidence = float(top.get("confidence") or 0.0)
    label = label_of_intent(top.get("name", ""))
    if label != OUT_OF_SCOPE:
        if confidence >= threshold:
            return CategoryDecision(label, confidence, False, candidates)
        return CategoryDecision(None, confidence, True, candidates)
    report_mass = sum(
        float(r.get("confidence") or 0.0)
        for r in ranking
        if label_of_intent(r.get("name", "")) != OUT_OF_SCOPE
    )
    ask = confidence < threshold and report_mass >= 0.5
    return CategoryDecision(None, confidence, ask, candidates)
