"""How long finding the hot spots takes with many cases (SQLite, or PostgreSQL with --pg).

Builds a throw-away database with ``--cases`` generated cases (default 100,000) spread
over 90 days, 40 estates in 10 grids and the seven categories, then times
``hotspots.find`` for everything (an admin) and for one grid (a grid worker).

    .venv/bin/python scripts/bench_hotspots.py [--cases 100000] [--pg URL] [--runs 3]
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, text

from minsheng.clock import utcnow
from minsheng.db import Database
from minsheng.enums import Category, GridLevel
from minsheng.models import Base, Case, Grid
from minsheng.services import hotspots

# Generated wording: a problem, and the words a resident wraps around it.
PROBLEMS = {
    Category.clutter: ["楼道堆满杂物", "单元门口共享单车乱停", "路边僵尸车很久没动", "楼梯间放了旧家具"],
    Category.sanitation: ["垃圾站满了没人清运", "下水道堵了污水外冒", "草坪上狗屎没人清理"],
    Category.livelihood: ["路灯不亮", "电梯坏了停运", "停水了没有通知", "暖气不热"],
    Category.safety_hazard: ["有人飞线充电", "外墙瓷砖脱落", "井盖丢了"],
    Category.public_order: ["半夜有人飙车", "电动车电瓶被偷", "有人推销保健品骗老人"],
    Category.dispute: ["楼上漏水邻居不管", "邻居半夜噪音", "车位被人占了"],
    Category.illegal_construction: ["楼顶私搭彩钢房", "一楼院子围起来盖房"],
}
WRAPS = ["{p}，请尽快处理", "我们这里{p}好几天了", "{p}，已经反映过一次了", "又{p}了，希望有人管一管",
         "{p}，老人孩子出门不方便"]


def build(url: str, n: int, seed: int = 7) -> Database:
    db = Database(url)
    Base.metadata.create_all(db.engine)
    rng, now = random.Random(seed), utcnow()
    with db.uow() as uow:
        s = uow.session
        root = Grid(code="B1", name="测试社区", level=GridLevel.community, xiaoqu=[], buildings=[])
        s.add(root)
        s.flush()
        grids = []
        for g in range(10):
            grid = Grid(code=f"B1{g:02d}", name=f"第{g + 1}网格", level=GridLevel.grid,
                        parent_id=root.id, xiaoqu=[], buildings=[])
            s.add(grid)
            grids.append(grid)
        s.flush()
        grid_ids = [g.id for g in grids]
        uow.commit()
    estates = [(f"小区{e:02d}花园", grid_ids[e % 10]) for e in range(40)]
    categories = list(PROBLEMS)
    rows = []
    for i in range(n):
        estate, grid_id = rng.choice(estates)
        category = rng.choice(categories)
        problem = rng.choice(PROBLEMS[category])
        building = f"{rng.randint(1, 20)}号楼" if rng.random() < 0.6 else None
        rows.append({"case_no": f"MS-B-{i:07d}", "category": category.value,
                     "description": rng.choice(WRAPS).format(p=problem),
                     "xiaoqu": estate, "building": building, "channel": "web",
                     "state": "resolved", "level": "grid", "grid_id": grid_id,
                     "accepted_at": now - timedelta(seconds=rng.randint(0, 90 * 86400)),
                     "urgent": False, "anonymous": False, "version": 1})
    with db.engine.begin() as conn:
        for start in range(0, n, 5000):
            conn.execute(insert(Case.__table__), rows[start:start + 5000])
    return db


def timed(db: Database, runs: int, grid_ids=None) -> tuple[float, int]:
    took, found = [], 0
    for _ in range(runs):
        with db.uow() as uow:
            started = time.perf_counter()
            found = len(hotspots.find(uow, utcnow(), grid_ids=grid_ids))
            took.append((time.perf_counter() - started) * 1000)
    return statistics.median(took), found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pg", help="a PostgreSQL server URL, e.g. postgresql://postgres@127.0.0.1/test")
    args = parser.parse_args(argv)
    name = None
    if args.pg:
        name = f"bench_hotspots_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = args.pg.rsplit("/", 1)[0] + f"/{name}"
    else:
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-hotspots-')) / 'b.db'}"
    started = time.perf_counter()
    db = build(url, args.cases)
    print(f"{args.cases} cases on {url.split(':')[0]} built in {time.perf_counter() - started:.1f} s")
    try:
        every, count = timed(db, args.runs)
        print(f"all grids: {every:.0f} ms (median of {args.runs}), {count} hot spots")
        with db.uow() as uow:
            one = {uow.session.execute(text("select id from grids where code='B100'")).scalar()}
        mine, count = timed(db, args.runs, one)
        print(f"one grid:  {mine:.0f} ms (median of {args.runs}), {count} hot spots")
    finally:
        db.dispose()
        if name:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return 0


if __name__ == "__main__":
    sys.exit(main())
