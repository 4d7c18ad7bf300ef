"""One online resident opens at most N cases a local day; urgent and staff-entered ones
always go through."""
from __future__ import annotations

from datetime import timedelta

import pytest

from minsheng.enums import Category, Channel
from minsheng.errors import QuotaExceeded
from minsheng.places import Place
from minsheng.services import cases
from minsheng.settings import load_settings
from tests.factories import T0, build_world, report, resident

PLACES = [Place("幸福里小区", f"{n}号楼", None, None) for n in range(1, 7)]


def open_nth(db, settings, n: int, when, **overrides) -> None:
    values = {"place": PLACES[n], "category": list(Category)[n % 7], "who": resident(1)}
    values.update(overrides)
    with db.uow() as uow:
        cases.open_case(uow, report(f"k{n}-{when:%H%M}", **values), now=when,
                        settings=settings)
        uow.commit()


def test_the_fourth_online_report_of_a_day_is_refused_with_a_chinese_reason(db):
    build_world(db)
    settings = load_settings(database_url=db.url, daily_case_quota=3, _env_file=None)
    for n in range(3):
        open_nth(db, settings, n, T0 + timedelta(minutes=n))
    with pytest.raises(QuotaExceeded, match="今天已经提交了 3 件"):
        open_nth(db, settings, 3, T0 + timedelta(minutes=5))
    open_nth(db, settings, 4, T0 + timedelta(minutes=6), urgent=True)  # danger is never refused
    open_nth(db, settings, 5, T0 + timedelta(minutes=7), channel=Channel.hotline,
             who=cases.ResidentRef(Channel.hotline, "13900000000"))
    open_nth(db, settings, 3, T0 + timedelta(days=1))  # a new local day
