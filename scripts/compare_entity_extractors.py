"""Which entity extractor: our rules (nlu.entities) or Rasa's RegexEntityExtractor + lookups?

Scores both on the hand-written cases in tests/nlu/entity_cases.yml:
span F1 (entity type and text span) and value F1 (entity type and normalised value,
which is what slots and routing need), plus time per message.

    .venv/bin/python scripts/compare_entity_extractors.py
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nlu.entities import extract_entities

CASES = ROOT / "tests" / "nlu" / "entity_cases.yml"
_CN = "零〇一二两三四五六七八九十百"
# The same kinds of patterns, written the way Rasa regex/lookup training data would hold them.
RASA_REGEXES = {
    "phone": [r"1[3-9][0-9](?:[\s-]?[0-9]){8}"],
    "building": [rf"(?:[0-9{_CN}]+|[A-Za-z][0-9]*)(?:号楼|号栋|栋|幢|座|号院)"],
    "unit": [rf"[0-9{_CN}]+单元"],
    "room": [rf"[0-9{_CN}]+室", r"(?<=单元)[0-9]{3,4}"],
    "xiaoqu": [r"[\u4e00-\u9fa5]{2,6}(?:小区|花园|家园|新村|苑|里)"],
}
RASA_LOOKUPS = {
    "time": ["昨天晚上", "今天下午", "每天凌晨", "前天晚上", "今晚", "周末晚上", "星期三下午",
             "每天早上", "晚上", "最近", "三天了", "一个星期了", "两个月了", "半个月了",
             "好几天了", "天天"],
}


def expected_of(case: dict) -> set[tuple[str, str]]:
    pairs = set()
    for entity, value in (case.get("entities") or {}).items():
        for v in value if isinstance(value, list) else [value]:
            pairs.add((entity, str(v)))
    return pairs


def f1(expected: list[set], found: list[set]) -> float:
    tp = sum(len(e & f) for e, f in zip(expected, found))
    fp = sum(len(f - e) for e, f in zip(expected, found))
    fn = sum(len(e - f) for e, f in zip(expected, found))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def spans_of_ours(text: str) -> tuple[set, set]:
    found = extract_entities(text)
    return ({(e.entity, text[e.start:e.end]) for e in found}, {(e.entity, e.value) for e in found})


def build_rasa_regex_extractor():
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.nlu.extractors.regex_entity_extractor import RegexEntityExtractor
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    storage = LocalModelStorage(Path(tempfile.mkdtemp()))
    extractor = RegexEntityExtractor.create(
        {**RegexEntityExtractor.get_default_config(), "use_word_boundaries": False},
        storage, Resource("regex"), ExecutionContext(GraphSchema({}), "compare"),
    )
    # use_only_entities: a pattern counts only for entities seen in annotated examples
    annotated = [
        Message(data={"text": "x", "intent": "add_info",
                      "entities": [{"entity": name, "start": 0, "end": 1, "value": "x"}]})
        for name in list(RASA_REGEXES) + list(RASA_LOOKUPS)
    ]
    extractor.train(TrainingData(
        training_examples=annotated,
        regex_features=[{"name": n, "pattern": p} for n, ps in RASA_REGEXES.items() for p in ps],
        lookup_tables=[{"name": n, "elements": e} for n, e in RASA_LOOKUPS.items()],
    ))
    return extractor, Message


def spans_of_rasa(extractor, message_cls, text: str) -> tuple[set, set]:
    message = message_cls(data={"text": text})
    extractor.process([message])
    entities = message.get("entities", [])
    spans = {(e["entity"], text[e["start"]:e["end"]]) for e in entities}
    return spans, {(e["entity"], str(e["value"])) for e in entities}


def main() -> int:
    cases = yaml.safe_load(CASES.read_text(encoding="utf-8"))
    expected = [expected_of(c) for c in cases]
    texts = [c["text"] for c in cases]
    extractor, message_cls = build_rasa_regex_extractor()
    rows = []
    for name, run in (("rules (nlu.entities)", spans_of_ours),
                      ("Rasa RegexEntityExtractor+lookups",
                       lambda t: spans_of_rasa(extractor, message_cls, t))):
        started = time.perf_counter()
        results = [run(t) for t in texts]
        ms = (time.perf_counter() - started) * 1000 / len(texts)
        ours_spans = [spans_of_ours(t)[0] for t in texts]  # our spans, checked by value F1 = 1
        span_f1 = f1(ours_spans, [r[0] for r in results])
        value_f1 = f1(expected, [r[1] for r in results])
        rows.append((name, value_f1, span_f1, ms))
    print(f"{len(cases)} cases, {sum(len(e) for e in expected)} entities")
    print(f"{'extractor':<36}{'value F1':>9}{'span F1*':>9}{'ms/msg':>8}")
    for name, value_f1, span_f1, ms in rows:
        print(f"{name:<36}{value_f1:>9.3f}{span_f1:>9.3f}{ms:>8.2f}")
    print("* span F1 against the rule extractor's spans (the reference when its value F1 is 1.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
