"""The 接诉即办 rates on the migrated SQLite file and on PostgreSQL: same cases, same figures."""
from __future__ import annotations

from datetime import date

from minsheng.services import stats
from tests.factories import build_world
from tests.unit.test_rates import NOW, SPECS, expected, make_cases


def test_the_rates_are_the_same_on_every_database(db):
    make_cases(db, build_world(db))
    with db.uow() as uow:
        data = stats.report_json(stats.report(uow, date(2026, 11, 1), date(2026, 11, 30),
                                              now=NOW))
    want = expected(SPECS)
    assert {name: data[name] for name in want} == want
    assert [u["key"] for u in data["ranking"]["street"]] == ["S2", "S1"]
