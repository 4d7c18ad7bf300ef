"""The report from stored facts equals the live count on the migrated SQLite file and on
PostgreSQL (the GROUP BY queries, the covering index, dates and NOT IN on both)."""
from __future__ import annotations

from tests.unit.test_stats_rollup import moving_district


def test_the_stored_report_equals_the_live_one_on_every_database(db):
    moving_district(db)
