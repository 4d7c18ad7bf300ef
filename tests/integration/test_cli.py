"""The ``minsheng`` command line on a real SQLite file."""
from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import func, select

from minsheng import cli
from minsheng.db import Database
from minsheng.demo_cases import seed_cases
from minsheng.models import (
    Case,
    CaseEvent,
    CaseRating,
    Grid,
    OutboxMessage,
    RoutingRule,
    Staff,
)

NOW = datetime(2026, 11, 22, 4, 0)


@pytest.fixture
def url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("MINSHENG_DATABASE_URL", url)
    assert cli.main(["db", "upgrade"]) == 0
    return url


def demo_history(url, reports: int) -> Database:
    """The demo district, its staff and ``reports`` past cases on the database at ``url``."""
    from minsheng.demo_district import grid_rows, seed_staff
    from minsheng.grid_import import import_grids

    database = Database(url)
    with database.uow() as uow:
        import_grids(uow, grid_rows())
    with database.uow() as uow:
        seed_staff(uow)
        uow.commit()
    seed_cases(database, NOW, reports=reports)
    return database


def counts(url):
    database = Database(url)
    with database.uow() as uow:
        result = [uow.session.execute(select(func.count(m.id))).scalar()
                  for m in (Grid, Staff, Case, CaseEvent, CaseRating, RoutingRule)]
    database.dispose()
    return result


def test_demo_district_and_history_seed_twice_without_doubling(url, capsys):
    from minsheng.cli_commands import seed_demo
    from minsheng.settings import load_settings

    database = Database(url)
    settings = load_settings(database_url=url, _env_file=None)
    seed_demo(database, settings, reports=40)  # a short history: the full one takes longer
    first = counts(url)
    seed_demo(database, settings, reports=40)
    assert counts(url) == first
    grids, staff, cases_, events, ratings, rules = first
    assert grids == 22 and staff == 14 and rules == 2
    assert cases_ >= 38 and events > 5 * cases_ and ratings > cases_ / 2
    database.dispose()
    capsys.readouterr()
    assert cli.main(["report", "--from", "2000-01-01", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["overall"]["accepted"] >= 38


def test_the_demo_history_queues_no_message_to_anyone(url, capsys):
    from minsheng.cli_commands import seed_demo
    from minsheng.settings import load_settings

    database = Database(url)
    settings = load_settings(database_url=url, _env_file=None)
    seed_demo(database, settings, reports=60)
    with database.uow() as uow:
        queued = uow.session.execute(select(func.count(OutboxMessage.id))).scalar()
        rated = uow.session.execute(select(func.count(CaseRating.id))).scalar()
    database.dispose()
    assert rated > 10  # the history did run through resolutions and ratings …
    assert queued == 0  # … without a single notice or rating prompt for made-up people


def test_report_prints_the_headline_and_json(url, capsys):
    database = demo_history(url, reports=30)
    database.dispose()
    capsys.readouterr()
    assert cli.main(["report", "--from", "2026-08-01", "--to", "2026-11-30"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[1].startswith("受理 ") and "办结率" in text and "按网格" in text
    assert cli.main(["report", "--from", "2026-08-01", "--to", "2026-11-30", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["overall"]["accepted"] >= 28 and 0.9 <= data["overall"]["closure_rate"] <= 1
    assert cli.main(["cases", "list", "--limit", "5"]) == 0
    assert capsys.readouterr().out.count("MS-") == 5
    assert cli.main(["scheduler", "run", "--once"]) == 0
    assert "超时督办" in capsys.readouterr().out


def test_grid_import_yaml_and_csv_then_staff(url, tmp_path, capsys):
    yaml_file = tmp_path / "grids.yaml"
    yaml_file.write_text(
        "grids:\n"
        "  - {code: G1, name: 第一网格, level: grid, parent: C1, xiaoqu: [幸福里],\n"
        "     buildings: ['幸福里:1号楼', '幸福里:2号楼']}\n"
        "  - {code: C1, name: 幸福社区, level: community}\n", encoding="utf-8")
    assert cli.main(["grid", "import", str(yaml_file)]) == 0
    csv_file = tmp_path / "grids.csv"
    csv_file.write_text("code,name,level,parent_code,xiaoqu,buildings,lat,lon\n"
                        "G2,第二网格,grid,C1,阳光花园,阳光花园:1号楼；阳光花园:2号楼,38.1,114.5\n"
                        "G1,第一网格（改名）,grid,C1,幸福里,幸福里:1号楼,,\n", encoding="utf-8")
    assert cli.main(["grid", "import", str(csv_file)]) == 0
    assert "新增 1 个网格，更新 1 个" in capsys.readouterr().out
    assert cli.main(["staff", "add", "--name", "王芳", "--role", "grid_worker", "--grid", "G2",
                     "--telegram-id", "5001", "--phone", "0311-1", "--public-name", "王网格员"]) == 0
    assert cli.main(["staff", "add", "--name", "李", "--role", "grid_worker", "--grid", "X9"]) == 1
    assert cli.main(["staff", "list"]) == 0
    out = capsys.readouterr().out
    assert "没有网格编码 X9" in out and "王芳（王网格员）" in out and "G2 第二网格" in out
    database = Database(url)
    with database.uow() as uow:
        g1 = uow.session.execute(select(Grid).where(Grid.code == "G1")).scalar_one()
        assert g1.name == "第一网格（改名）" and g1.buildings == ["幸福里:1号楼"]
        assert g1.parent.code == "C1"
    database.dispose()


def test_a_broken_grid_file_is_refused_whole(url, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name,level,parent_code\nA,甲,grid,\nB,乙,village,\n", encoding="utf-8")
    assert cli.main(["grid", "import", str(bad)]) == 1
    assert "第 2 行" in capsys.readouterr().out
    assert counts(url)[0] == 0


def test_nlu_and_user_subcommands_are_delegated(monkeypatch):
    seen = {}

    class Fake:
        @staticmethod
        def main(argv):
            seen["argv"] = argv
            return 0

    monkeypatch.setattr(cli.importlib, "import_module",
                        lambda name: seen.setdefault("module", name) and Fake)
    assert cli.main(["nlu", "eval", "--set", "x"]) == 0
    assert seen == {"module": "nlu.cli", "argv": ["eval", "--set", "x"]}


def test_staff_list_json_prints_each_member_with_their_grid_code(url, tmp_path, capsys):
    grids = tmp_path / "grids.yaml"
    grids.write_text("grids:\n  - {code: C1, name: 幸福社区, level: community}\n"
                     "  - {code: G1, name: 第一网格, level: grid, parent: C1}\n", encoding="utf-8")
    assert cli.main(["grid", "import", str(grids)]) == 0
    assert cli.main(["staff", "add", "--name", "王芳", "--role", "grid_worker", "--grid", "G1",
                     "--public-name", "王网格员"]) == 0
    assert cli.main(["staff", "add", "--name", "孙丽", "--role", "community", "--grid", "C1"]) == 0
    capsys.readouterr()
    assert cli.main(["staff", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(listed, key=lambda m: m["id"]) == [
        {"id": 1, "name": "王芳", "public_name": "王网格员", "role": "grid_worker",
         "grid_code": "G1"},
        {"id": 2, "name": "孙丽", "public_name": "孙丽", "role": "community", "grid_code": "C1"},
    ]


def test_token_create_prints_a_token_once_and_revoke_ends_it(url, capsys):
    from minsheng import api_tokens
    from minsheng.users import create_user

    database = Database(url)
    with database.uow() as uow:
        create_user(uow, "admin", "long-enough-pw", "admin")
        uow.commit()
    capsys.readouterr()
    assert cli.main(["token", "create", "--username", "admin"]) == 0
    token = capsys.readouterr().out.strip()
    assert len(token) >= 40 and "\n" not in token
    with database.uow() as uow:
        assert api_tokens.user_for_token(uow, token).username == "admin"
    assert cli.main(["token", "create", "--username", "nobody"]) == 1
    assert "找不到账号 nobody" in capsys.readouterr().err
    assert cli.main(["token", "revoke", "--username", "admin"]) == 0
    with database.uow() as uow:
        assert api_tokens.user_for_token(uow, token) is None
    database.dispose()


def test_report_json_adds_the_rates_and_a_grid_code_limits_it(url, capsys):
    database = demo_history(url, reports=30)
    with database.uow() as uow:
        communities = [g.code for g in uow.session.execute(select(Grid)).scalars()
                       if str(g.level) == "community"]
    assert len(communities) >= 2
    database.dispose()
    capsys.readouterr()
    period = ["--from", "2026-08-01", "--to", "2026-11-30"]
    assert cli.main(["report", *period, "--json"]) == 0
    whole = json.loads(capsys.readouterr().out)
    for key in ("response_rate", "resolution_rate", "satisfaction_rate", "ack_rate",
                "on_time_rate", "reopen_rate", "return_rate", "urge_rate", "extension_rate",
                "by_handling_method", "ranking"):
        assert key in whole
    parts = []
    for code in communities:
        assert cli.main(["report", *period, "--json", "--grid", code]) == 0
        part = json.loads(capsys.readouterr().out)
        assert [u["key"] for u in part["ranking"]["community"]] in ([code], [])
        parts.append(part["overall"]["accepted"])
    assert min(parts) > 0  # every community has cases …
    assert sum(parts) == whole["overall"]["accepted"]  # … and every case lies in one
    assert cli.main(["report", "--grid", "NOPE"]) == 1


def test_cases_sheet_writes_the_pdf_of_a_case(url, tmp_path, capsys):
    database = demo_history(url, reports=3)
    with database.uow() as uow:
        case_no = uow.session.execute(select(Case.case_no).limit(1)).scalar()
    database.dispose()
    out = tmp_path / "sheet.pdf"
    assert cli.main(["cases", "sheet", case_no, "--out", str(out)]) == 0
    assert out.read_bytes().startswith(b"%PDF") and "承办单已保存" in capsys.readouterr().out
    assert cli.main(["cases", "sheet", "MS-19990101-0001", "--out", str(out)]) == 1
    assert "没有找到工单" in capsys.readouterr().out


def test_the_full_demo_history_shows_every_method_and_every_workflow_step(url, capsys):
    """seed demo exercises the six handling methods, 催办, 延期 (both decisions), 退单
    and 加签, so the dashboard and the report have something to show for each."""
    from minsheng.cli_commands import seed_demo
    from minsheng.settings import load_settings

    database = Database(url)
    seed_demo(database, load_settings(database_url=url, _env_file=None))
    with database.uow() as uow:
        actions = dict(uow.session.execute(
            select(CaseEvent.action, func.count(CaseEvent.id)).group_by(CaseEvent.action)).all())
    database.dispose()
    for action in ("urge", "request_extension", "approve_extension", "refuse_extension",
                   "return", "cosign"):
        assert actions.get(action, 0) > 0, action
    capsys.readouterr()
    assert cli.main(["report", "--from", "2000-01-01", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert all(row["resolved"] > 0 for row in report["by_handling_method"].values()), \
        report["by_handling_method"]
    assert report["urge_rate"] > 0 and report["extension_rate"] > 0 and report["return_rate"] > 0
