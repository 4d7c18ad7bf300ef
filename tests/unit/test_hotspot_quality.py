"""The hot-spot clustering measured on the team-written sets (scripts/eval_hotspots.py):
floors a little under what the shipped settings reach, so that a change which loses groups
or merges problems fails here.

tests/unit/hotspot_cases.yml is the set the settings were chosen on (its figures are an
upper bound); tests/unit/hotspot_cases_heldout.yml was written afterwards and never used to
choose anything."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "eval_hotspots.py"
FLOORS = {"precision": 0.85, "recall": 0.80, "f1": 0.85, "ari": 0.85}
# Set after one measurement at the shipped settings (precision 0.758, recall 0.746, F1 0.752,
# ARI 0.745), a little below it, not tuned: a setting must never be chosen on this set.
HELDOUT_FLOORS = {"precision": 0.72, "recall": 0.72, "f1": 0.72, "ari": 0.72}


@pytest.fixture(scope="module")
def evaluation():
    spec = importlib.util.spec_from_file_location("eval_hotspots", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("case_set", ["CASES", "HELDOUT"])
def test_each_case_set_has_enough_groups_singletons_and_reports(evaluation, case_set):
    reports, truth = evaluation.load(getattr(evaluation, case_set))
    groups = {g for g in truth if truth.count(g) > 1}
    assert len(reports) >= 60 and len(groups) >= 10
    assert sum(1 for g in set(truth) if truth.count(g) == 1) >= 10


def test_the_clustering_keeps_its_floors_on_the_case_set(evaluation):
    scores = evaluation.evaluate()
    low = {name: round(scores[name], 3) for name, floor in FLOORS.items()
           if scores[name] < floor}
    assert not low, f"below the floors {FLOORS}: {low}"


def test_the_clustering_keeps_its_floors_on_the_held_out_set(evaluation):
    scores = evaluation.evaluate(path=evaluation.HELDOUT)
    low = {name: round(scores[name], 3) for name, floor in HELDOUT_FLOORS.items()
           if scores[name] < floor}
    assert not low, f"below the held-out floors {HELDOUT_FLOORS}: {low}"


def test_the_script_measures_the_set_it_is_given(evaluation, capsys):
    assert evaluation.main(["--cases", str(evaluation.HELDOUT)]) == 0
    assert capsys.readouterr().out.startswith("70 reports, 14 true groups, 21 singletons")


def test_the_scores_punish_a_clustering_that_puts_everything_together(evaluation):
    reports, truth = evaluation.load()
    lumped = evaluation.scores(truth, [0] * len(reports))
    alone = evaluation.scores(truth, list(range(len(reports))))
    assert lumped["precision"] < 0.2 and lumped["ari"] == 0.0
    assert alone["recall"] == 0.0 and alone["f1"] == 0.0
