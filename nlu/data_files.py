"""Where the NLU training examples live and how to read them without Rasa.

Layout: ``data/nlu/<folder>/<any name>.yml``. A folder per category, named by its code in
``minsheng.enums.Category`` (``chat.yml`` for chat-style lines, ``letters.yml`` for
letter-style ones, more files welcome), plus ``conversation/`` (greet, thanks, ratings,
emergency …) and ``out_of_scope/``. Rasa reads every file under ``data/`` whatever the
folder, so the folders are for people and for the checks in tests/nlu.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from minsheng.enums import Category

NLU_DIR = Path(__file__).resolve().parents[1] / "data" / "nlu"
CONVERSATION = "conversation"
OUT_OF_SCOPE = "out_of_scope"
REPORT_PREFIX = "report_"


def expected_folders() -> set[str]:
    return {c.value for c in Category} | {CONVERSATION, OUT_OF_SCOPE}


@dataclass(frozen=True)
class Example:
    intent: str
    text: str
    path: Path  # the file it is written in


def examples_in(text: str, path: Path) -> list[Example]:
    """The intent examples of one Rasa NLU YAML document (synonyms, lookups ignored)."""
    found = []
    for block in (yaml.safe_load(text) or {}).get("nlu") or []:
        if "intent" not in block:
            continue
        for line in str(block.get("examples") or "").splitlines():
            line = line.strip()
            if line.startswith("- "):
                found.append(Example(block["intent"], line[2:].strip(), path))
    return found


def read_examples(nlu_dir: Path = NLU_DIR) -> list[Example]:
    """Every example under ``nlu_dir``, files in name order."""
    found = []
    for path in sorted(nlu_dir.rglob("*.yml")):
        found += examples_in(path.read_text(encoding="utf-8"), path)
    return found


def folder_of_intent(intent: str) -> str:
    """Where an example of ``intent`` is filed: report_<code> → <code>, out_of_scope, else
    conversation."""
    if intent.startswith(REPORT_PREFIX) and intent[len(REPORT_PREFIX):] in {
            c.value for c in Category}:
        return intent[len(REPORT_PREFIX):]
    return OUT_OF_SCOPE if intent == OUT_OF_SCOPE else CONVERSATION


def folder_intents(folder: str) -> set[str] | None:
    """The intents a folder may hold: report_<code> in a category folder, any non-report
    intent in conversation/, only out_of_scope in out_of_scope/; None for an unknown folder."""
    if folder in {c.value for c in Category}:
        return {REPORT_PREFIX + folder}
    if folder == OUT_OF_SCOPE:
        return {OUT_OF_SCOPE}
    return None
