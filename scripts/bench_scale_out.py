"""Scale-out benchmark: `make bench-scale-out` (ARGS="--seconds 30 --clients 20").

Starts minsheng/topology.py twice on this machine — 2 of each (Rasa, action server, web
app, gateway) behind nginx, then 1 of each — on fresh PostgreSQL databases and Redis
(tests/scaleout/deployment.py), and drives ``--clients`` web chat residents through nginx,
each reporting one case after another without pause (tests/scaleout/load.py: GET /chat,
POST /chat/send, pressing the offered buttons until the case number). A turn is one
POST /chat/send until its answer. For each topology it prints turns/s and p50/p95 over
``--seconds`` after a warm-up; with 2 of each it then kills one replica of each kind
(kill -9; supervisord restarts them) and measures the same over ``--seconds`` from the
kills (the killed Rasa server is usually still loading its model by then).
Results are also written to var/bench/scale_out.json.

On a 2-core machine every replica shares the same two cores: the numbers say what a
second replica costs and what survives a crash here, not what a second host would add.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from minsheng.topology import Replicas
from nlu.registry import current_model_path
from tests.scaleout.deployment import start_deployment
from tests.scaleout.load import VICTIMS, Load, Turns, p95

READY_TIMEOUT = 900.0  # two Rasa servers loading at once on a busy machine


def window(turns: Turns, start: float, end: float) -> dict:
    """turns/s and latency percentiles of the turns answered in [start, end]."""
    latencies = turns.latencies(start, end)
    seconds = end - start

    def pct(q: float) -> float | None:
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1000)

    return {"seconds": round(seconds, 1), "turns": len(latencies),
            "turns_per_s": round(len(latencies) / seconds, 2) if seconds else 0,
            "p50_ms": pct(0.5), "p95_ms": round((p95(latencies) or 0) * 1000) or None}


def bench(model: Path, replicas: Replicas, args, kill: bool) -> dict:
    label = f"{replicas.rasa} of each"
    print(f"\n== {label}: starting …", flush=True)
    run_dir = Path(tempfile.mkdtemp(prefix="bench-scale-out-"))
    deployment = start_deployment(run_dir, model, replicas)
    out: dict = {"topology": label}
    try:
        out["ready_s"] = round(deployment.topology.wait_ready(READY_TIMEOUT), 1)
        load = Load(deployment, args.clients, 0).start()
        try:
            time.sleep(args.warm_up)
            start = time.monotonic()
            time.sleep(args.seconds)
            out["steady"] = window(load.turns, start, time.monotonic())
            print(f"   steady: {out['steady']}", flush=True)
            if kill:
                topology = deployment.topology
                killed_at = time.monotonic()
                old = {name: topology.kill(name) for name in VICTIMS}
                back = {name: round(topology.wait_back(name, pid, 120), 1)
                        for name, pid in old.items() if not name.startswith("rasa-")}
                time.sleep(max(0.0, args.seconds - (time.monotonic() - killed_at)))
                end = time.monotonic()
                back[VICTIMS[0]] = "back" if topology.ready(VICTIMS[0]) else "loading"
                out["during_kills"] = {**window(load.turns, killed_at, end), "back_s": back}
                print(f"   during the kills: {out['during_kills']}", flush=True)
        finally:
            load.finish()
        out["journeys"] = len(load.web)
        out["journeys_stopped"] = len(load.failures)
        out["sends_sent_again"] = load.turns.errors
    finally:
        deployment.stop()
    return out


def table(rows: list[dict]) -> str:
    lines = ["| topology | load | turns/s | p50 | p95 |", "|---|---|---|---|---|"]
    for row in rows:
        for name in ("steady", "during_kills"):
            if name in row:
                w = row[name]
                lines.append(f"| {row['topology']} | {name.replace('_', ' ')} "
                             f"({w['seconds']} s) | {w['turns_per_s']} | {w['p50_ms']} ms | "
                             f"{w['p95_ms']} ms |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=40.0, help="measured, per point")
    parser.add_argument("--warm-up", type=float, default=10.0)
    parser.add_argument("--one-first", action="store_true",
                        help="1 of each first (on a shared machine the order matters)")
    args = parser.parse_args(argv)
    model = current_model_path(ROOT / "models") or current_model_path(
        ROOT / "tests" / "artefacts" / "nlu-models")
    if model is None:
        raise SystemExit("no trained model: run `minsheng nlu train` (or make run) first")
    results = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "clients": args.clients, "cpus": os.cpu_count(),
               "load_average_at_start": list(os.getloadavg()), "model": model.name,
               "runs": []}
    plans = [(Replicas(), True), (Replicas(1, 1, 1, 1), False)]
    for replicas, kill in reversed(plans) if args.one_first else plans:
        results["runs"].append(bench(model.resolve(), replicas, args, kill))
    results["load_average_at_end"] = list(os.getloadavg())
    out = ROOT / "var" / "bench" / "scale_out.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    print("\n" + table(results["runs"]))
    print(f"\nload average {results['load_average_at_start']} → "
          f"{results['load_average_at_end']}; written to {out}")


if __name__ == "__main__":
    main()
