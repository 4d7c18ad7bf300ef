"""`minsheng privacy export|erase`: a resident sees all we hold; erasing keeps the numbers."""
from __future__ import annotations

import json
from datetime import date

from sqlalchemy import select

from minsheng import cli
from minsheng.models import AuditEntry, CasePhoto, NluMessage, ResidentIdentity
from minsheng.services import cases, stats

EVER = (date(2000, 1, 1), date(2100, 1, 1))


def test_export_shows_the_case_the_photo_the_phone_and_the_messages(resolved_case, capsys):
    case_no, photo = resolved_case
    capsys.readouterr()
    assert cli.main(["privacy", "export", "--resident", "telegram:777001"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["identities"] == ["telegram:777001"]
    [case] = data["cases"]
    assert (case["case_no"], case["phone"], case["photos"]) == (case_no, "13812345678",
                                                                [str(photo)])
    assert case["rating"]["comment"].startswith("张三很满意")
    assert [m["text"] for m in data["messages_read_by_the_classifier"]] == ["3号楼楼道堆满纸箱"]


def test_erase_removes_the_person_and_keeps_the_7621_figures(resolved_case, db, capsys):
    case_no, photo = resolved_case
    with db.uow() as uow:
        before = stats.report_json(stats.report(uow, EVER[0], EVER[1], "Asia/Shanghai"))["overall"]
    assert cli.main(["privacy", "erase", "--resident", "telegram:777001"]) == 0
    assert not photo.exists()
    with db.uow() as uow:
        after = stats.report_json(stats.report(uow, EVER[0], EVER[1], "Asia/Shanghai"))["overall"]
        view = cases.get_case(uow, case_no)
        session = uow.session
        assert session.execute(select(ResidentIdentity)).first() is None
        assert session.execute(select(NluMessage)).first() is None
        assert session.execute(select(CasePhoto)).first() is None
        assert session.execute(select(AuditEntry.action)).scalars().all() == ["privacy_erase"]
    assert after == before  # 受理, 办结, 满意度 … unchanged
    assert "纸箱" not in view.description and view.phone is None and view.room is None
    assert view.rating.comment is None
    assert cli.main(["privacy", "export", "--resident", "telegram:777001"]) == 1  # gone


def test_an_unknown_resident_is_a_clear_error(db, monkeypatch, capsys):
    monkeypatch.setenv("MINSHENG_DATABASE_URL", db.url)
    assert cli.main(["privacy", "erase", "--resident", "phone:13000000000"]) == 1
    assert "找不到居民" in capsys.readouterr().err
