"""Page render times of the web console with the demo data (`minsheng seed demo`).

Builds a fresh SQLite database in a temp dir, seeds the demo district, adds console logins,
then requests each page N times in-process (FastAPI TestClient: routing, database, template
rendering; no network) and prints median / p95 / max in milliseconds. Target: < 300 ms.

    .venv/bin/python scripts/bench_web.py [--runs 20]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-web-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    env = {**os.environ, "MINSHENG_DATABASE_URL": url, "MINSHENG_PHOTOS_DIR": str(tmp / "photos")}
    minsheng = [sys.executable, "-m", "minsheng.cli"]
    subprocess.run(minsheng + ["db", "upgrade"], env=env, check=True, cwd=ROOT)
    subprocess.run(minsheng + ["seed", "demo"], env=env, check=True, cwd=ROOT)

    from fastapi.testclient import TestClient
    from sqlalchemy import func, select

    from minsheng.clock import to_local, utcnow
    from minsheng.db import Database
    from minsheng.enums import GridLevel
    from minsheng.models import Case, Grid, Staff
    from minsheng.settings import load_settings
    from minsheng.users import create_user
    from web.app import create_app

    settings = load_settings(database_url=url, photos_dir=tmp / "photos",
                             models_dir=tmp / "models", rasa_url="http://127.0.0.1:9")
    db = Database(url)
    with db.uow() as uow:
        s = uow.session
        busiest = s.execute(
            select(Case.grid_id).join(Grid, Grid.id == Case.grid_id)
            .where(Grid.level.in_([GridLevel.grid, GridLevel.micro_grid]))
            .group_by(Case.grid_id).order_by(func.count(Case.id).desc())).scalars().first()
        grid = s.get(Grid, busiest)
        worker = s.execute(select(Staff).where(Staff.grid_id == grid.id)).scalars().first()
        create_user(uow, "bench-admin", "bench-password", "admin")
        create_user(uow, "bench-grid", "bench-password", "grid", grid.code,
                    staff_id=worker.id if worker else None)
        uow.commit()
        total = s.execute(select(func.count(Case.id))).scalar_one()
        one = s.execute(select(Case.case_no).where(Case.grid_id == grid.id)
                        .order_by(Case.id.desc())).scalars().first()
    today = to_local(utcnow(), settings.timezone).date()
    quarter = f"from={today - timedelta(days=89)}&to={today}"
    pages = {
        "admin": ["/cases", "/cases?overdue=true", "/cases?category=sanitation&page=2",
                  f"/cases/{one}", "/dashboard", f"/dashboard?{quarter}",
                  f"/dashboard/export.csv?{quarter}", f"/dashboard/export.xlsx?{quarter}",
                  "/admin", "/nlu", "/cases/new", "/api/cases", f"/api/cases/{one}",
                  f"/api/stats?{quarter}"],
        "grid": ["/cases", f"/cases/{one}"],
        None: ["/login", "/chat"],
    }
    app = create_app(settings)
    print(f"demo data: {total} cases; {args.runs} runs per page; times in ms")
    print(f"{'user':<7}{'page':<58}{'median':>8}{'p95':>8}{'max':>8}")
    worst = 0.0
    for who, urls in pages.items():
        with TestClient(app) as client:
            if who:
                client.get("/login")
                response = client.post("/login", data={
                    "username": f"bench-{who}", "password": "bench-password",
                    "csrftoken": client.cookies["csrftoken"]}, follow_redirects=False)
                assert response.status_code == 303, response.text
            for page in urls:
                times = []
                for _ in range(args.runs + 1):
                    started = time.perf_counter()
                    response = client.get(page)
                    times.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, (page, response.status_code)
                times = sorted(times[1:])  # the first request warms caches
                p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
                worst = max(worst, p95)
                print(f"{who or '-':<7}{page[:57]:<58}{statistics.median(times):>8.1f}"
                      f"{p95:>8.1f}{times[-1]:>8.1f}")
    print(f"worst p95: {worst:.1f} ms ({'within' if worst < 300 else 'OVER'} the 300 ms target)")
    db.dispose()
    app.state.db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
