"""Deadlines on the Chinese working calendar: holidays, 调休 Saturdays, the lunch break."""
from __future__ import annotations

from datetime import datetime

import pytest

from minsheng import cli, working_time
from minsheng.services.limits import Limit

SHANGHAI = "Asia/Shanghai"


def due(local_start: str, amount: int, unit: str, strict: bool = True) -> str:
    """The deadline, as local ISO time, of ``amount unit`` from a local start."""
    start = datetime.fromisoformat(local_start + "+08:00")
    naive_utc = start.astimezone(working_time.ZoneInfo("UTC")).replace(tzinfo=None)
    end = Limit(amount, unit).due(naive_utc, SHANGHAI, strict)
    return working_time.local(end, SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def test_a_working_day_ends_at_the_same_time_on_the_next_working_day():
    assert due("2025-09-23T10:00", 1, "working_days") == "2025-09-24T10:00"


def test_working_hours_skip_the_lunch_break_and_the_night():
    assert due("2025-09-23T11:00", 2, "working_hours") == "2025-09-23T14:30"
    assert due("2025-09-23T17:00", 2, "working_hours") == "2025-09-24T10:30"
    assert due("2025-09-23T20:00", 2, "working_hours") == "2025-09-24T11:00"


def test_the_national_day_holiday_is_skipped():
    # 2025: 1–8 October off; 11 October (a Saturday) is a 调休 working day
    assert due("2025-09-30T10:00", 1, "working_days") == "2025-10-09T10:00"
    assert due("2025-09-30T10:00", 3, "working_days") == "2025-10-11T10:00"
    assert due("2025-10-03T10:00", 2, "working_hours") == "2025-10-09T11:00"


def test_a_tiaoxiu_sunday_is_a_working_day():
    # 28 September 2025 was a Sunday worked in exchange for the National Day holiday
    assert due("2025-09-27T10:00", 2, "working_hours") == "2025-09-28T11:00"
    assert due("2025-09-26T16:00", 1, "working_days") == "2025-09-28T16:00"


def test_urgent_limits_run_on_the_clock_through_holidays():
    assert due("2025-10-01T22:00", 4, "hours") == "2025-10-02T02:00"
    assert due("2025-10-01T22:00", 30, "minutes") == "2025-10-01T22:30"


def test_a_year_the_calendar_does_not_cover_is_a_clear_error():
    _first, last = working_time.covered_years()
    with pytest.raises(working_time.CalendarNotCovered) as error:
        due(f"{last + 1}-03-02T10:00", 1, "working_days")
    assert f"{last + 1} 年" in str(error.value) and "upgrade" in str(error.value)
    # the services keep accepting cases: Monday to Friday, no holidays
    assert due(f"{last + 1}-03-05T10:00", 1, "working_days", strict=False).endswith("T10:00")


def test_an_unknown_unit_or_a_zero_limit_is_refused_in_chinese():
    with pytest.raises(Exception, match="时限单位"):
        Limit(2, "fortnights")
    with pytest.raises(Exception, match="正整数"):
        Limit(0, "hours")


def test_the_cli_prints_the_deadline_as_iso_time(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MINSHENG_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    assert cli.main(["limits", "deadline", "--category", "sanitation",
                     "--opened", "2025-09-30T10:00:00+08:00"]) == 0
    assert capsys.readouterr().out.strip() == "2025-10-10T10:00:00+08:00"
    assert cli.main(["limits", "deadline", "--category", "sanitation", "--urgent",
                     "--opened", "2025-09-30T10:00:00"]) == 0
    assert capsys.readouterr().out.strip() == "2025-09-30T14:00:00+08:00"


def test_the_cli_refuses_an_uncovered_year_and_a_bad_time(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MINSHENG_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    year = working_time.covered_years()[1] + 1
    assert cli.main(["limits", "deadline", "--category", "dispute",
                     "--opened", f"{year}-03-02T10:00"]) == 2
    assert "chinese-calendar" in capsys.readouterr().err
    assert cli.main(["limits", "deadline", "--category", "dispute", "--opened", "昨天"]) == 2
    assert "ISO" in capsys.readouterr().err
