"""Timing shared by the bench scripts (bench_web.py, bench_cases.py): a call run N times,
and the figures printed from the times."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def times_ms(call: Callable[[], object], runs: int,
             before: Callable[[], object] | None = None,
             cpu: list[float] | None = None) -> list[float]:
    """Milliseconds of each of ``runs`` calls, in order; ``before`` runs untimed first.
    ``cpu`` receives the process's CPU milliseconds of each call: on a shared, loaded
    machine the wall time is mostly waiting for a core, the CPU time is the work."""
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        started, used = time.perf_counter(), time.process_time()
        call()
        times.append((time.perf_counter() - started) * 1000)
        if cpu is not None:
            cpu.append((time.process_time() - used) * 1000)
    return times


def summary(times: list[float]) -> dict[str, float]:
    """median, p95 (nearest rank) and max."""
    ordered = sorted(times)
    return {"median": statistics.median(ordered),
            "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
            "max": ordered[-1]}
