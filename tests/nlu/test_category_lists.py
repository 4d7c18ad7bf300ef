"""Every list of categories that cannot be derived from minsheng.enums.Category agrees with it.

Adding a category to the enum makes this test fail until each place below is updated (the
README's "Adding a category" lists them in the same order).
"""
import csv
from pathlib import Path

import yaml

from minsheng.enums import CATEGORY_LABELS, Category
from nlu.data_files import NLU_DIR, REPORT_PREFIX, read_examples

ROOT = Path(__file__).resolve().parents[2]
CODES = {c.value for c in Category}
REPORT_INTENTS = {REPORT_PREFIX + code for code in CODES}


def _yaml(relative: str):
    return yaml.safe_load((ROOT / relative).read_text(encoding="utf-8"))


def _intents_in_steps(steps) -> list[set[str]]:
    """Each group of intents a rule or story accepts at one step (an ``or`` is one group)."""
    groups = []
    for step in steps or []:
        if "intent" in step:
            groups.append({step["intent"]})
        elif "or" in step:
            groups.append({s["intent"] for s in step["or"] if "intent" in s})
    return groups


def category_lists() -> dict[str, set[str]]:
    """Where each list of category codes is, and the codes it holds."""
    from minsheng.demo_cases import CATEGORY_WEIGHTS, DESCRIPTIONS
    from minsheng.services.limits import RESOLVE
    from nlu.decision import CATEGORIES
    from tests.web.fake_rasa import KEYWORDS

    found = {
        "minsheng.enums.CATEGORY_LABELS": {c.value for c in CATEGORY_LABELS},
        "nlu.decision.CATEGORIES": set(CATEGORIES),
        "minsheng.services.limits.RESOLVE (time limits)": {c.value for c in RESOLVE},
        "minsheng.demo_cases.DESCRIPTIONS": {c.value for c in DESCRIPTIONS},
        "minsheng.demo_cases.CATEGORY_WEIGHTS": {c.value for c in CATEGORY_WEIGHTS},
        "tests/web/fake_rasa.py KEYWORDS": set(KEYWORDS.values()),
        "data/nlu/<category>/ folders": {p.name for p in NLU_DIR.iterdir() if p.is_dir()}
        - {"conversation", "out_of_scope"},
    }
    domain = _yaml("domain.yml")
    found["domain.yml intents report_*"] = {
        i[len(REPORT_PREFIX):] for i in domain["intents"] if str(i).startswith(REPORT_PREFIX)}
    found["data/nlu report_* intents"] = {
        e.intent[len(REPORT_PREFIX):] for e in read_examples() if e.intent.startswith(REPORT_PREFIX)}
    for path in sorted((ROOT / "data" / "rules").glob("*.yml")):
        for rule in _yaml(f"data/rules/{path.name}").get("rules") or []:
            for group in _intents_in_steps(rule.get("steps")):
                if group & REPORT_INTENTS:  # a step that takes reports must take every one
                    found[f"data/rules/{path.name}: {rule['rule']}"] = {
                        i[len(REPORT_PREFIX):] for i in group if i.startswith(REPORT_PREFIX)}
    with open(ROOT / "tests" / "nlu" / "own_messages.tsv", encoding="utf-8") as handle:
        labels = {row["category"] for row in csv.DictReader(handle, delimiter="\t")}
    found["tests/nlu/own_messages.tsv (evaluation set)"] = labels - {"out_of_scope"}
    return found


def disagreements(lists: dict[str, set[str]], codes: set[str]) -> list[str]:
    return [f"{where}: missing {sorted(codes - held)}, unknown {sorted(held - codes)}"
            for where, held in lists.items() if held != codes]


def test_every_list_of_categories_agrees_with_the_enum():
    lists = category_lists()
    assert len(lists) >= 12  # the rules in data/rules were found, not skipped
    assert disagreements(lists, CODES) == []


def test_a_new_category_is_reported_in_every_list_until_it_is_added():
    lists = category_lists()
    assert len(disagreements(lists, CODES | {"noise"})) == len(lists)
