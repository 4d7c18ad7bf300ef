"""How well the hot-spot clustering finds the known groups of a team-written case set.

    .venv/bin/python scripts/eval_hotspots.py                 # the default threshold
    .venv/bin/python scripts/eval_hotspots.py --sweep         # thresholds 0.02 … 0.40
    .venv/bin/python scripts/eval_hotspots.py --threshold 0.3 --show
    .venv/bin/python scripts/eval_hotspots.py --cases tests/unit/hotspot_cases_heldout.yml

Prints pairwise precision / recall / F1 (a pair of reports put together that belong
together is a true positive) and the adjusted Rand index. The default set,
tests/unit/hotspot_cases.yml, is the one the settings were chosen on (an upper bound);
tests/unit/hotspot_cases_heldout.yml was written afterwards and is measured at the shipped
settings only — its --sweep says how far they are from its best, never what to ship.
tests/unit/test_hotspot_quality.py keeps floors on both.
"""
from __future__ import annotations

import argparse
import sys
from itertools import combinations
from pathlib import Path

import yaml
from sklearn.metrics import adjusted_rand_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minsheng.services.hotspot_clusters import DEFAULT_THRESHOLD, Report, cluster

CASES = ROOT / "tests" / "unit" / "hotspot_cases.yml"
HELDOUT = ROOT / "tests" / "unit" / "hotspot_cases_heldout.yml"


def load(path: Path = CASES) -> tuple[list[Report], list[str]]:
    rows = yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]
    reports = [Report(key=i, category=r["category"], text=r["text"], xiaoqu=r.get("xiaoqu"),
                      building=r.get("building"), lat=r.get("lat"), lon=r.get("lon"))
               for i, r in enumerate(rows)]
    return reports, [r["group"] for r in rows]


def labels_of(groups: list[list[int]], n: int) -> list[int]:
    """Cluster label per report; a report left out of every group is a group of its own."""
    labels = list(range(n, 2 * n))
    for label, members in enumerate(groups):
        for i in members:
            labels[i] = label
    return labels


def scores(truth: list[str], predicted: list[int]) -> dict[str, float]:
    tp = fp = fn = 0
    for i, j in combinations(range(len(truth)), 2):
        same_true, same_pred = truth[i] == truth[j], predicted[i] == predicted[j]
        tp += same_true and same_pred
        fp += same_pred and not same_true
        fn += same_true and not same_pred
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "ari": adjusted_rand_score(truth, predicted)}


def evaluate(threshold: float = DEFAULT_THRESHOLD, path: Path = CASES) -> dict[str, float]:
    reports, truth = load(path)
    return scores(truth, labels_of(cluster(reports, threshold), len(reports)))


def _line(threshold: float, s: dict[str, float]) -> str:
    return (f"threshold {threshold:.2f}  precision {s['precision']:.3f}  "
            f"recall {s['recall']:.3f}  F1 {s['f1']:.3f}  ARI {s['ari']:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--sweep", action="store_true", help="thresholds 0.02 to 0.40")
    parser.add_argument("--show", action="store_true", help="print the groups found")
    parser.add_argument("--cases", type=Path, default=CASES,
                        help=f"the case set (default {CASES.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    reports, truth = load(args.cases)
    groups = sum(1 for g in set(truth) if truth.count(g) > 1)
    print(f"{len(reports)} reports, {groups} true groups, "
          f"{sum(1 for g in set(truth) if truth.count(g) == 1)} singletons")
    thresholds = ([t / 100 for t in range(2, 21)] + [0.25, 0.30, 0.40]) if args.sweep \
        else [args.threshold]
    for threshold in thresholds:
        found = cluster(reports, threshold)
        print(_line(threshold, scores(truth, labels_of(found, len(reports)))))
        if args.show:
            for members in sorted(found, key=len, reverse=True):
                if len(members) > 1:
                    print("  ", " | ".join(f"{truth[i]}: {reports[i].text[:14]}"
                                           for i in members))
            # a report left alone although its group has others is a miss too
            for members in found:
                if len(members) == 1 and truth.count(truth[members[0]]) > 1:
                    print("   alone:", f"{truth[members[0]]}: {reports[members[0]].text[:14]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
