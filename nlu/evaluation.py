"""Eight-label evaluation: per-class precision/recall/F1, confusion matrix, macro-F1.

Labels are the seven category codes plus ``out_of_scope``; a prediction is the top
intent other than ``nlu_fallback`` mapped with ``label_of_intent`` (the threshold
decision is measured separately by ``calibrate_threshold``).
"""
from __future__ import annotations

import csv
import json
import os
import random
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from nlu.decision import FALLBACK_INTENT, LABELS, label_of_intent

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCHMARK_NAME = "real_messages_tipdm2020.tsv"


def _find_benchmark() -> Path:
    """The held-out benchmark: $MINSHENG_BENCHMARKS_DIR, else ../shared/benchmarks beside
    the checkout, else the workplace's /work/shared/benchmarks (a clone made elsewhere)."""
    candidates = [REPO_ROOT.parent / "shared" / "benchmarks", Path("/work/shared/benchmarks")]
    if os.environ.get("MINSHENG_BENCHMARKS_DIR"):
        candidates.insert(0, Path(os.environ["MINSHENG_BENCHMARKS_DIR"]))
    for folder in candidates:
        if (folder / BENCHMARK_NAME).exists():
            return folder / BENCHMARK_NAME
    return candidates[0] / BENCHMARK_NAME


BENCHMARK = _find_benchmark()
OWN_EVAL_DIR = REPO_ROOT / "tests" / "nlu"


@dataclass(frozen=True)
class Example:
    id: str
    label: str
    text: str


@dataclass(frozen=True)
class Prediction:
    example: Example
    label: str
    confidence: float
    intent: str


def read_eval_tsv(path: Path) -> list[Example]:
    """A TSV with the header ``id, category, text``; unknown categories are refused."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    examples = []
    for row in rows:
        label = (row.get("category") or "").strip()
        if label not in LABELS:
            raise ValueError(f"{path}: row {row.get('id')}: unknown category {label!r}")
        examples.append(Example(row["id"], label, row["text"]))
    return examples


def _labelled_by_category(path: Path) -> bool:
    """A TSV of this format (``id, category, text``); other TSVs in tests/nlu have their own
    evaluators (e.g. the multi-problem set, nlu/split_eval.py)."""
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().rstrip("\r\n").split("\t")
    return {"id", "category", "text"} <= set(header)


def default_eval_sets() -> dict[str, Path]:
    """The benchmark (when present) and our own evaluation files in tests/nlu/*.tsv."""
    sets = {}
    if BENCHMARK.exists():
        sets[BENCHMARK.stem] = BENCHMARK
    for path in sorted(OWN_EVAL_DIR.glob("*.tsv")):
        if _labelled_by_category(path):
            sets[path.stem] = path
    return sets


def top_intent(parse_result: dict) -> tuple[str, float]:
    ranking = [r for r in parse_result.get("intent_ranking") or [] if r["name"] != FALLBACK_INTENT]
    if not ranking:
        intent = parse_result.get("intent") or {}
        return intent.get("name") or "out_of_scope", float(intent.get("confidence") or 0.0)
    best = max(ranking, key=lambda r: r["confidence"])
    return best["name"], float(best["confidence"])


def predict(parser, examples: list[Example]) -> list[Prediction]:
    predictions = []
    for example in examples:
        intent, confidence = top_intent(parser.parse(example.text))
        predictions.append(Prediction(example, label_of_intent(intent), confidence, intent))
    return predictions


@dataclass(frozen=True)
class Report:
    per_class: dict[str, dict]  # label → precision, recall, f1, support
    confusion: dict[str, Counter]  # gold → Counter(predicted)
    macro_f1: float
    accuracy: float
    n: int

    def summary(self) -> dict:
        return {"macro_f1": round(self.macro_f1, 4), "accuracy": round(self.accuracy, 4), "n": self.n}


def score(gold: list[str], predicted: list[str]) -> Report:
    """Macro-F1 averages the labels that occur in the gold or the predictions."""
    confusion: dict[str, Counter] = defaultdict(Counter)
    for g, p in zip(gold, predicted):
        confusion[g][p] += 1
    per_class = {}
    for label in LABELS:
        tp = confusion[label][label]
        support = sum(confusion[label].values())
        predicted_n = sum(confusion[g][label] for g in list(confusion))
        if support == 0 and predicted_n == 0:
            continue
        precision = tp / predicted_n if predicted_n else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    n = len(gold)
    macro = sum(c["f1"] for c in per_class.values()) / len(per_class) if per_class else 0.0
    accuracy = sum(confusion[label][label] for label in LABELS) / n if n else 0.0
    return Report(per_class, dict(confusion), macro, accuracy, n)


def score_predictions(predictions: list[Prediction]) -> Report:
    return score([p.example.label for p in predictions], [p.label for p in predictions])


# Column heads of the confusion matrix; a label without one (a new category) shows its
# first seven letters, so this is no list that has to follow minsheng.enums.Category.
_SHORT = {
    "safety_hazard": "safety", "sanitation": "sanit", "illegal_construction": "illegal",
    "dispute": "dispute", "livelihood": "livelih", "clutter": "clutter",
    "public_order": "order", "out_of_scope": "oos",
}


def _short(label: str) -> str:
    return _SHORT.get(label, label[:7])


def format_report(report: Report) -> str:
    lines = [f"{'label':<22}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}"]
    for label, c in report.per_class.items():
        lines.append(
            f"{label:<22}{c['precision']:>10.3f}{c['recall']:>8.3f}{c['f1']:>8.3f}{c['support']:>9}"
        )
    lines.append(f"{'macro':<22}{'':>10}{'':>8}{report.macro_f1:>8.3f}{report.n:>9}")
    lines.append(f"accuracy {report.accuracy:.3f}")
    lines.append("")
    lines.append("confusion matrix (rows: gold, columns: predicted)")
    lines.append(f"{'':<22}" + "".join(f"{_short(label):>8}" for label in LABELS))
    for gold in LABELS:
        row = report.confusion.get(gold, Counter())
        lines.append(f"{gold:<22}" + "".join(f"{row[p]:>8}" for p in LABELS))
    return "\n".join(lines)


def summary_line(report: Report) -> str:
    return json.dumps(report.summary(), ensure_ascii=False)


def evaluate_sets(parser, eval_sets: dict[str, Path]) -> dict[str, dict]:
    """Scores of one model on each evaluation set: {set: {macro_f1, accuracy, n}}."""
    return {
        name: score_predictions(predict(parser, read_eval_tsv(path))).summary()
        for name, path in eval_sets.items()
    }


# --- cross-validation on the training data -----------------------------------------
def load_training_examples(nlu_dir: Path) -> list[tuple[str, str]]:
    """(text, intent) pairs of every NLU example under ``nlu_dir``."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(nlu_dir))
    return [(m.get("text"), m.get("intent")) for m in data.intent_examples]


def stratified_folds(items: list[tuple[str, str]], folds: int, seed: int = 13) -> list[list[int]]:
    """Indices split into ``folds`` parts, each intent spread evenly across them."""
    by_intent: dict[str, list[int]] = defaultdict(list)
    for index, (_, intent) in enumerate(items):
        by_intent[intent].append(index)
    parts: list[list[int]] = [[] for _ in range(folds)]
    rng = random.Random(seed)
    offset = 0
    for intent in sorted(by_intent):
        indices = by_intent[intent]
        rng.shuffle(indices)
        for position, index in enumerate(indices):
            parts[(position + offset) % folds].append(index)
        offset += len(indices)
    return parts


def write_nlu_yaml(items: list[tuple[str, str]], path: Path) -> None:
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    messages = [Message(data={"text": text, "intent": intent}) for text, intent in items]
    path.write_text(TrainingData(training_examples=messages).nlu_as_yaml(), encoding="utf-8")


def cross_validate(config: Path, nlu_dir: Path, folds: int = 5, log=print) -> Report:
    """k-fold cross-validation on the training data, scored on the eight labels."""
    from nlu.training import Parser, train_nlu_only

    items = load_training_examples(nlu_dir)
    parts = stratified_folds(items, folds)
    gold: list[str] = []
    predicted: list[str] = []
    with tempfile.TemporaryDirectory(prefix="minsheng-cv-") as tmp:
        for fold, test_indices in enumerate(parts, start=1):
            test_set = set(test_indices)
            train_items = [item for i, item in enumerate(items) if i not in test_set]
            train_file = Path(tmp) / f"fold{fold}.yml"
            write_nlu_yaml(train_items, train_file)
            model = train_nlu_only(config, train_file, Path(tmp), f"fold{fold}")
            parser = Parser(model)
            fold_gold, fold_pred = [], []
            for index in test_indices:
                text, intent = items[index]
                fold_gold.append(label_of_intent(intent))
                fold_pred.append(label_of_intent(top_intent(parser.parse(text))[0]))
            parser.close()
            fold_report = score(fold_gold, fold_pred)
            log(f"fold {fold}/{folds}: macro_f1 {fold_report.macro_f1:.3f} "
                f"accuracy {fold_report.accuracy:.3f} n {fold_report.n}")
            gold += fold_gold
            predicted += fold_pred
    return score(gold, predicted)


# --- threshold calibration ---------------------------------------------------------
def calibrate_threshold(
    predictions: list[Prediction], thresholds: list[float], target_accuracy: float = 0.95
) -> tuple[list[dict], float]:
    """Coverage (share decided without asking) and accuracy of those decided, per threshold.

    Recommends the lowest threshold whose decided messages reach ``target_accuracy``
    (most messages decided at that quality); the highest threshold when none does.
    """
    table = []
    for threshold in thresholds:
        decided = [p for p in predictions if p.confidence >= threshold]
        correct = sum(p.label == p.example.label for p in decided)
        table.append({
            "threshold": threshold,
            "coverage": len(decided) / len(predictions) if predictions else 0.0,
            "accuracy": correct / len(decided) if decided else 1.0,
            "asked": len(predictions) - len(decided),
        })
    good = [row for row in table if row["accuracy"] >= target_accuracy and row["coverage"] > 0]
    recommended = good[0]["threshold"] if good else thresholds[-1]
    return table, recommended
