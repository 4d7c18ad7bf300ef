"""Case-domain throughput (``make bench-cases``), on SQLite and on PostgreSQL.

1. open + route + resolve N cases through the services (open, acknowledge, resolve:
   three units of work per case, as three separate requests would be);
2. bulk-insert the rest up to M cases (with ratings), then time the 7621 report query.

Prints cases/s and query milliseconds. PostgreSQL gets a fresh database, dropped after.
    python scripts/bench_cases.py [--cases 10000] [--total 100000] [--only sqlite|postgresql]
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_timing import summary, times_ms
from sqlalchemy import create_engine, func, insert, select, text

from minsheng.db import Database
from minsheng.demo_district import all_buildings, grid_rows, seed_staff
from minsheng.enums import CaseState, Category, Channel, FeedbackRoute, Rating
from minsheng.grid_import import import_grids
from minsheng.migrate import upgrade
from minsheng.models import Case, CaseRating, Grid
from minsheng.places import Place
from minsheng.services import cases, stats
from minsheng.services.contract import NewCase, ResidentRef
from minsheng.services.routing import ensure_default_rules

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
START = datetime(2026, 1, 1, 2, 0)


def prepare(database: Database) -> None:
    upgrade(database.url)
    with database.uow() as uow:
        import_grids(uow, grid_rows())
    with database.uow() as uow:
        seed_staff(uow)
        ensure_default_rules(uow.session)
        uow.commit()


def through_services(database: Database, n: int) -> float:
    rng = random.Random(1)
    places = all_buildings()
    started = time.perf_counter()
    for i in range(n):
        now = START + timedelta(minutes=i)
        xiaoqu, building = rng.choice(places)
        report = NewCase(
            channel=Channel.telegram, idempotency_key=f"bench-{i}", description="楼道堆满杂物",
            category=rng.choice(list(Category)), place=Place(xiaoqu, building),
            resident=ResidentRef(Channel.telegram, str(rng.randint(1, 3000))))
        with database.uow() as uow:
            case_no = cases.open_case(uow, report, now=now).case_no
        with database.uow() as uow:
            owner = uow.session.execute(
                select(Case.assignee_id).where(Case.case_no == case_no)).scalar()
            cases.acknowledge(uow, case_no, owner, now=now)
        with database.uow() as uow:
            cases.resolve(uow, case_no, owner, "已处理", photo_path="bench.jpg",  # some categories need one
                          now=now + timedelta(minutes=30))
    return time.perf_counter() - started


def bulk_fill(database: Database, total: int) -> None:
    """Plain rows up to ``total`` cases, shaped like a year of reports."""
    rng = random.Random(2)
    with database.uow() as uow:
        have = uow.session.execute(select(func.count(Case.id))).scalar()
        grid_ids = uow.session.execute(select(Grid.id)).scalars().all()
        uow.session.execute(text("DELETE FROM case_counters"))  # numbers below are synthetic
        uow.commit()
    states = [CaseState.closed] * 90 + [CaseState.resolved] * 5 + [CaseState.in_progress] * 3 \
        + [CaseState.withdrawn, CaseState.merged]
    batch = 5000
    with database.engine.begin() as conn:
        first_id = conn.execute(select(func.coalesce(func.max(Case.id), 0))).scalar() + 1
        for offset in range(0, total - have, batch):
            rows, ratings = [], []
            for k in range(offset, min(offset + batch, total - have)):
                accepted = START + timedelta(minutes=rng.randint(0, 525_600))
                state = rng.choice(states)
                done = state in (CaseState.closed, CaseState.resolved)
                rows.append({
                    "id": first_id + k, "case_no": f"MS-BULK-{k:07d}",
                    "category": rng.choice(list(Category)), "description": "批量数据",
                    "channel": rng.choice(list(Channel)), "urgent": False, "state": state,
                    "level": "grid", "grid_id": rng.choice(grid_ids), "accepted_at": accepted,
                    "resolved_at": accepted + timedelta(hours=5) if done else None,
                    "resolved_on_time": (rng.random() < 0.97) if done else None, "version": 1})
                if state == CaseState.closed and rng.random() < 0.85:
                    ratings.append({"case_id": first_id + k, "route": FeedbackRoute.online,
                                    "value": rng.choice([Rating.satisfied] * 80 + [
                                        Rating.basically_satisfied] * 16 + [Rating.dissatisfied] * 4),
                                    "at": accepted + timedelta(hours=8)})
            conn.execute(insert(Case), rows)
            if ratings:
                conn.execute(insert(CaseRating), ratings)
    if database.engine.dialect.name == "postgresql":
        with database.engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()


def time_report(database: Database, runs: int = 5) -> tuple[float, stats.Report]:
    found = []

    def count() -> None:
        with database.uow() as uow:
            found.append(stats.report(uow, date(2026, 1, 1), date(2026, 12, 31)))
    return summary(times_ms(count, runs))["median"], found[-1]


def bench(name: str, url: str, n: int, total: int) -> None:
    database = Database(url)
    try:
        prepare(database)
        seconds = through_services(database, n)
        print(f"{name:<10} open+route+resolve {n} cases: {seconds:.1f} s = "
              f"{n / seconds:.0f} cases/s ({seconds / n * 1000:.1f} ms per case, 3 transactions)",
              flush=True)
        bulk_fill(database, total)
        ms, rep = time_report(database)
        print(f"{name:<10} report over {total} cases: {ms:.0f} ms (median of 5); "
              f"{stats.headline(rep.overall)}", flush=True)
    finally:
        database.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--total", type=int, default=100_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            bench("SQLite", f"sqlite:///{tmp}/bench.db", args.cases, args.total)
    if args.only in (None, "postgresql"):
        name = f"minsheng_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN, future=True, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as error:  # noqa: BLE001 - report and carry on
            print(f"PostgreSQL skipped: {error.__class__.__name__}: {error}")
            return 0
        try:
            bench("PostgreSQL", PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", args.cases, args.total)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
