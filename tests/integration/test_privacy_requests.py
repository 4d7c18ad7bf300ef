"""`minsheng privacy export|erase`: a resident sees all we hold; erasing keeps the numbers."""
from __future__ import annotations

import json
from datetime import date
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from minsheng import cli, nlu_log
from minsheng.enums import Category, Channel, FeedbackRoute, Rating
from minsheng.models import AuditEntry, CasePhoto, NluMessage, ResidentIdentity
from minsheng.places import Place
from minsheng.services import cases, stats
from tests.factories import T0, build_world

EVER = (date(2000, 1, 1), date(2100, 1, 1))


@pytest.fixture
def resolved_case(db, monkeypatch, tmp_path):
    """A Telegram resident's case, with a photo, resolved and rated with a comment."""
    monkeypatch.setenv("MINSHENG_DATABASE_URL", db.url)
    monkeypatch.setenv("MINSHENG_PHOTOS_DIR", str(tmp_path / "photos"))
    photo = tmp_path / "photos" / "p.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"jpeg")
    build_world(db)
    who = cases.ResidentRef(Channel.telegram, "777001", "张三")
    with db.uow() as uow:
        opened = cases.open_case(uow, cases.NewCase(
            channel=Channel.telegram, idempotency_key="k1", description="3号楼楼道堆满纸箱",
            category=Category.clutter, place=Place("幸福里小区", "3号楼", "2单元", "502"),
            phone="13812345678", photos=[str(photo)], resident=who), now=T0)
        nlu_log.record_prediction(uow, "telegram", "telegram:777001", "3号楼楼道堆满纸箱",
                                  "clutter", 0.9)
        uow.commit()
    with db.uow() as uow:
        worker = cases.get_case(uow, opened.case_no).assignee_id
        cases.acknowledge(uow, opened.case_no, worker, now=T0)
        # no 办结 photo rule here: the export is about the resident's own photo only
        cases.resolve(uow, opened.case_no, worker, "已清理", now=T0,
                      settings=SimpleNamespace(resolve_photo_categories=[]))
        cases.rate(uow, opened.case_no, Rating.satisfied, FeedbackRoute.online,
                   comment="张三很满意，电话13812345678", resident=who, now=T0)
        uow.commit()
    return opened.case_no, photo


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
