"""Retraining from reviewed messages: add labelled rows, train, compare, promote or not.

The CLI (``minsheng nlu review`` / ``learn`` / ``train``) and the web console call these.
"""
from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nlu import registry
from nlu.decision import CATEGORIES, OUT_OF_SCOPE, REPORT_PREFIX
from nlu.evaluation import evaluate_sets
from nlu.serving import publish_model
from nlu.training import DATA, Parser, train_model

NLU_DIR = DATA / "nlu"
LEARNED_FILE = "learned.yml"
REVIEW_COLUMNS = ["id", "label", "predicted", "confidence", "corrected", "text"]


def normalise_text(text: str) -> str:
    """What counts as the same example: case, surrounding and repeated spaces ignored."""
    return re.sub(r"\s+", " ", text or "").strip().lower()


def intent_for_label(label: str, known_intents: set[str] | None = None) -> str:
    """'clutter' → 'report_clutter'; 'out_of_scope' and other known intent names stay."""
    label = label.strip()
    if label in CATEGORIES:
        return REPORT_PREFIX + label
    if label == OUT_OF_SCOPE or (label.startswith(REPORT_PREFIX) and label[7:] in CATEGORIES):
        return label
    if known_intents and label in known_intents:
        return label
    raise ValueError(f"unknown label {label!r}: use a category code, out_of_scope or an intent")


# --- review file -------------------------------------------------------------------
def write_review_tsv(rows, path) -> int:
    """rows: objects with id, predicted, confidence, corrected, text (the label column is empty)."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(REVIEW_COLUMNS)
        for row in rows:
            writer.writerow([row.id, "", row.predicted, f"{row.confidence:.3f}",
                             row.corrected or "", " ".join(row.text.split())])
    return len(rows)


def read_labelled_rows(path: Path, known_intents: set[str] | None = None) -> list[tuple[str, str]]:
    """(text, intent) of rows with a label (or, when the label is empty, a staff correction)."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    labelled = []
    for row in rows:
        label = (row.get("label") or "").strip() or (row.get("corrected") or "").strip()
        text = " ".join((row.get("text") or "").split())
        if label and text:
            labelled.append((text, intent_for_label(label, known_intents)))
    return labelled


# --- learned.yml -------------------------------------------------------------------
def _load_examples(path: Path) -> list[tuple[str, str]]:
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    return [(m.get("text"), m.get("intent")) for m in data.intent_examples]


def existing_texts(nlu_dir: Path) -> set[str]:
    files = sorted(Path(nlu_dir).rglob("*.yml"))  # data/nlu/<category>/*.yml
    return {normalise_text(text) for f in files for text, _ in _load_examples(f)}


def write_examples(items: list[tuple[str, str]], path: Path) -> None:
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    messages = [Message(data={"text": text, "intent": intent}) for text, intent in items]
    yaml = TrainingData(training_examples=messages).nlu_as_yaml()
    header = "# Examples learned from reviewed resident messages (minsheng nlu learn).\n"
    path.write_text(header + yaml, encoding="utf-8")


def add_learned_examples(
    items: list[tuple[str, str]], nlu_dir: Path = NLU_DIR
) -> tuple[list[tuple[str, str]], int]:
    """Append new examples to <folder>/learned.yml, the folder of each example's intent
    (nlu.data_files); returns (added, skipped as duplicates)."""
    from nlu.data_files import folder_of_intent

    nlu_dir = Path(nlu_dir)
    seen = existing_texts(nlu_dir)
    added = []
    for text, intent in items:
        key = normalise_text(text)
        if key in seen:
            continue
        seen.add(key)
        added.append((text, intent))
    for folder in sorted({folder_of_intent(intent) for _, intent in added}):
        learned_path = nlu_dir / folder / LEARNED_FILE
        learned = _load_examples(learned_path) if learned_path.exists() else []
        learned_path.parent.mkdir(parents=True, exist_ok=True)
        write_examples(learned + [(t, i) for t, i in added if folder_of_intent(i) == folder],
                       learned_path)
    return added, len(items) - len(added)


# --- train, compare, promote -------------------------------------------------------
@dataclass
class Outcome:
    model: str
    train_seconds: float
    old_model: str | None
    old_scores: dict[str, dict]
    new_scores: dict[str, dict]
    promoted: bool
    server_note: str | None = None


def comparison_table(outcome: Outcome) -> str:
    lines = [f"{'evaluation set':<36}{'old macro-F1':>13}{'new macro-F1':>13}{'change':>9}"]
    for name, new in outcome.new_scores.items():
        old = outcome.old_scores.get(name)
        old_text = f"{old['macro_f1']:.4f}" if old else "-"
        delta = f"{new['macro_f1'] - old['macro_f1']:+.4f}" if old else ""
        lines.append(f"{name:<36}{old_text:>13}{new['macro_f1']:>13.4f}{delta:>9}")
    return "\n".join(lines)


def score_model(model_path: Path, eval_sets: dict[str, Path]) -> dict[str, dict]:
    parser = Parser(model_path)
    try:
        return evaluate_sets(parser, eval_sets)
    finally:
        parser.close()


def train_compare_promote(
    models_dir: Path,
    eval_sets: dict[str, Path],
    *,
    rasa_urls: list[str] | None = None,
    rasa_token: str | None = None,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> Outcome:
    """Train a new versioned model; promote it when macro-F1 does not drop on any set."""
    models_dir = Path(models_dir)
    old_path = registry.current_model_path(models_dir)
    trained = train_model(models_dir)
    log(f"trained {trained.name} in {trained.seconds:.1f} s")
    registry.record_training(models_dir, trained.name, trained.seconds, trained.fingerprint)
    new_scores = score_model(trained.path, eval_sets)
    registry.record_scores(models_dir, trained.name, new_scores)
    old_scores: dict[str, dict] = {}
    if old_path is not None:
        old_scores = score_model(old_path, eval_sets)
        registry.record_scores(models_dir, old_path.name, old_scores)
    promoted = force or old_path is None or registry.is_not_worse(old_scores, new_scores)
    outcome = Outcome(trained.name, trained.seconds, old_path.name if old_path else None,
                      old_scores, new_scores, promoted)
    if promoted:
        registry.promote(models_dir, trained.name)
        if rasa_urls and rasa_token:  # every replica (nlu/serving.py)
            outcome.server_note = publish_model(rasa_urls, rasa_token, trained.path)
    else:
        registry.reject(models_dir, trained.name)
    return outcome


def learn(
    review_file: Path,
    models_dir: Path,
    eval_sets: dict[str, Path],
    *,
    known_intents: set[str] | None = None,
    nlu_dir: Path = NLU_DIR,
    rasa_urls: list[str] | None = None,
    rasa_token: str | None = None,
    log: Callable[[str], None] = print,
) -> Outcome | None:
    """Add the labelled rows, retrain, compare; a rejected model's examples are taken back out."""
    items = read_labelled_rows(review_file, known_intents)
    before = {p: p.read_text(encoding="utf-8") for p in Path(nlu_dir).rglob(LEARNED_FILE)}
    added, skipped = add_learned_examples(items, nlu_dir)
    log(f"{len(items)} labelled rows: {len(added)} added to <category>/{LEARNED_FILE}, "
        f"{skipped} already in the training data")
    if not added:
        return None
    outcome = train_compare_promote(models_dir, eval_sets, rasa_urls=rasa_urls,
                                    rasa_token=rasa_token, log=log)
    if not outcome.promoted:  # take this round's examples back out
        for path in Path(nlu_dir).rglob(LEARNED_FILE):
            if path in before:
                path.write_text(before[path], encoding="utf-8")
            else:
                path.unlink()
    return outcome
