"""The scheduler process waits out a database that is not there, instead of ending."""
from __future__ import annotations

from minsheng import scheduler_loop
from minsheng.db import Database
from minsheng.migrate import upgrade
from minsheng.settings import load_settings


def test_a_tick_that_fails_is_retried_with_backoff_and_the_loop_goes_on(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'late.db'}"  # no tables yet: every scan fails
    database = Database(url)
    settings = load_settings(database_url=url, _env_file=None)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            upgrade(url)  # the database comes back after the second failure

    try:
        code = scheduler_loop.run(database, settings, interval=5, sleep=sleep, max_ticks=4)
    finally:
        database.dispose()
    assert code == 0
    assert waits == [5, 10, 5, 5]  # backoff while failing, the plain interval once healthy
    out = capsys.readouterr().out
    assert out.count("定时任务失败") == 2 and out.count("超时督办 0 件") == 2


def test_backoff_doubles_and_stops_at_a_minute():
    assert [scheduler_loop.backoff_seconds(5, n) for n in (1, 2, 3, 4, 5, 6)] == \
        [5, 10, 20, 40, 60, 60]
