"""nlu/quality_floor.json only ever goes up.

The file keeps the floors in force (``macro_f1``) and an append-only ``history`` of every
set of floors that was in force before. Raising a floor: change ``macro_f1`` and append the
new values to ``history``. Lowering one fails here, unless someone deletes history in the
same diff, which a reviewer sees. A set named in ``reported_only`` (with its reason) is
measured and printed but has no floor: the shared benchmark, which is reported and must
never steer a choice — a floor on it would.
"""
import json
from pathlib import Path

FLOOR_FILE = Path(__file__).resolve().parents[2] / "nlu" / "quality_floor.json"


def floor_drops(document: dict) -> list[str]:
    """Every way the floors went down: below a recorded value, or down along the history."""
    floors, history = document["macro_f1"], document["history"]
    reported_only = document.get("reported_only", {})
    drops = [f"{name}: both a floor and reported only" for name in reported_only
             if name in floors]
    best: dict[str, float] = {}
    for entry in history:
        for name, value in entry["macro_f1"].items():
            if value < best.get(name, 0.0):
                drops.append(f"{entry['date']}: {name} {value} < earlier {best[name]}")
            best[name] = max(best.get(name, 0.0), value)
    for name, value in best.items():
        if name in reported_only:
            continue
        if name not in floors:
            drops.append(f"{name}: its floor {value} was removed")
        elif floors[name] < value:
            drops.append(f"{name}: floor {floors[name]} < recorded {value}")
    dates = [entry["date"] for entry in history]
    if dates != sorted(dates):
        drops.append(f"history is not in date order: {dates}")
    return drops


def test_the_floors_in_the_repo_never_went_down():
    document = json.loads(FLOOR_FILE.read_text(encoding="utf-8"))
    assert document["history"], "the history must record at least the current floors"
    assert document["history"][-1]["macro_f1"] == document["macro_f1"], (
        "raise floors by appending them to history too")
    assert floor_drops(document) == []


def test_a_lowered_floor_a_removed_one_and_a_lower_entry_are_caught():
    recorded = [{"date": "2026-01-01", "macro_f1": {"a": 0.9, "b": 0.8}}]
    assert floor_drops({"macro_f1": {"a": 0.9, "b": 0.8}, "history": recorded}) == []
    assert floor_drops({"macro_f1": {"a": 0.89, "b": 0.8}, "history": recorded}) == [
        "a: floor 0.89 < recorded 0.9"]
    assert floor_drops({"macro_f1": {"a": 0.9}, "history": recorded}) == [
        "b: its floor 0.8 was removed"]
    assert floor_drops({"macro_f1": {"a": 0.9}, "history": recorded,
                        "reported_only": {"b": "shared benchmark"}}) == []
    assert floor_drops({"macro_f1": {"a": 0.9, "b": 0.8}, "history": recorded,
                        "reported_only": {"b": "shared benchmark"}}) == [
        "b: both a floor and reported only"]
    lower_later = recorded + [{"date": "2026-02-01", "macro_f1": {"a": 0.85, "b": 0.8}}]
    assert floor_drops({"macro_f1": {"a": 0.85, "b": 0.8}, "history": lower_later}) == [
        "2026-02-01: a 0.85 < earlier 0.9", "a: floor 0.85 < recorded 0.9"]


def test_only_category_labelled_tsvs_are_evaluation_sets_with_floors(tmp_path, monkeypatch):
    """Another TSV in tests/nlu (e.g. the multi-problem set, scored by nlu/split_eval.py) is
    neither scored as one nor asked for a floor."""
    from nlu import evaluation

    (tmp_path / "chat.tsv").write_text("id\tcategory\ttext\n1\tclutter\t楼道堆满纸箱\n", "utf-8")
    (tmp_path / "multi.tsv").write_text("id\tkind\tcategories\ttext\n1\tone\tclutter\tx\n",
                                        "utf-8")
    monkeypatch.setattr(evaluation, "OWN_EVAL_DIR", tmp_path)
    monkeypatch.setattr(evaluation, "BENCHMARK", tmp_path / "absent.tsv")
    assert evaluation.default_eval_sets() == {"chat": tmp_path / "chat.tsv"}
