"""`minsheng privacy erase` also erases the resident's dialogue in Rasa's tracker store,
found from the endpoints file as Rasa finds it. Real SQLite files and a real PostgreSQL."""
from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from minsheng import cli
from minsheng.models import AuditEntry, ResidentIdentity
from minsheng.rasa_trackers import NotErasable, tracker_store_url
from nlu.message_log import NluLogWriter
from tests.integration.test_cached_tracker_store import nlu_rows, replica, stored_events, turn
from tests.integration.test_nlu_log_catch_up import stuck_writer

ROOT = Path(__file__).resolve().parents[2]
ERASED, OTHER = "telegram:777001", "telegram:777002"  # resolved_case's resident (conftest), another


def endpoints_file(tmp_path: Path, keys: dict, monkeypatch) -> Path:
    """An endpoints file naming the tracker database of ``keys``, its values as ${VAR} the
    way endpoints.scale-out.yml has them."""
    monkeypatch.setenv("T_TRACKER_DB", keys["db"])
    lines = ["tracker_store:", "  type: nlu.tracker_store.CachedSQLTrackerStore",
             f'  dialect: "{keys["dialect"]}"', "  db: ${T_TRACKER_DB}"]
    if keys["dialect"] == "postgresql":
        monkeypatch.setenv("T_TRACKER_HOST", keys["host"])
        lines += ["  url: ${T_TRACKER_HOST}", f"  port: {keys['port']}",
                  f'  username: "{keys["username"]}"']
    path = tmp_path / "endpoints.yml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def erase(endpoints: Path) -> int:
    return cli.main(["privacy", "erase", "--resident", ERASED, "--endpoints", str(endpoints)])


def test_erase_removes_the_residents_events_and_leaves_the_others(
        resolved_case, db, domain, store_keys, tmp_path, monkeypatch, capsys):
    running = replica(domain, store_keys)  # a Rasa that keeps serving through the erase
    for words in ("3号楼楼道堆满纸箱", "是的"):
        turn(running, ERASED, words)
    turn(running, OTHER, "路灯坏了")
    theirs, others = stored_events(store_keys, ERASED), stored_events(store_keys, OTHER)
    assert theirs and others
    capsys.readouterr()

    assert erase(endpoints_file(tmp_path, store_keys, monkeypatch)) == 0
    assert f"Rasa 对话记录 {len(theirs)} 条" in capsys.readouterr().out
    assert stored_events(store_keys, ERASED) == []
    assert stored_events(store_keys, OTHER) == others
    with db.uow() as uow:
        [detail] = uow.session.execute(select(AuditEntry.detail)).scalars().all()
    assert json.loads(detail)["tracker_events"] == len(theirs)

    # the running Rasa's cache held the conversation: its newest event id is gone (None),
    # so the cached tracker is not served, and the resident starts anew
    hits = running.hits
    assert asyncio.run(running.retrieve(ERASED)) is None and running.hits == hits
    tracker = turn(running, ERASED, "你好")
    assert [e.text for e in tracker.events if e.type_name == "user"] == ["你好"]


def test_export_shows_what_the_resident_and_the_bot_said_and_no_one_elses_words(
        resolved_case, domain, store_keys, tmp_path, monkeypatch, capsys):
    from rasa.shared.core.events import BotUttered

    running = replica(domain, store_keys)
    tracker = turn(running, ERASED, "3号楼楼道堆满纸箱")
    tracker.update(BotUttered("已记录，请问具体在几单元？"))
    asyncio.run(running.save(tracker))
    turn(running, ERASED, "2单元")
    turn(running, OTHER, "路灯坏了")
    capsys.readouterr()

    endpoints = endpoints_file(tmp_path, store_keys, monkeypatch)
    assert cli.main(["privacy", "export", "--resident", ERASED,
                     "--endpoints", str(endpoints)]) == 0
    said = json.loads(capsys.readouterr().out)["dialogue_with_the_bot"]
    assert [(s["from"], s["text"]) for s in said] == [
        ("resident", "3号楼楼道堆满纸箱"), ("bot", "已记录，请问具体在几单元？"),
        ("resident", "2单元")]
    assert {s["conversation"] for s in said} == {ERASED} and all(s["at"] for s in said)

    (tmp_path / "endpoints.yml").write_text("tracker_store:\n  type: redis\n", encoding="utf-8")
    assert cli.main(["privacy", "export", "--resident", ERASED,
                     "--endpoints", str(endpoints)]) == 0
    assert "not an SQL tracker store" in json.loads(
        capsys.readouterr().out)["dialogue_with_the_bot"]["not_read"]


def test_after_an_erase_the_nlu_log_catch_up_does_not_log_their_messages_again(
        resolved_case, db, domain, store_keys, tmp_path, monkeypatch):
    killed = replica(domain, store_keys, stuck_writer())  # queued, never written: only the
    turn(killed, ERASED, "楼道里堆满了纸箱")  # tracker store has them
    turn(killed, OTHER, "路灯坏了")
    del killed

    assert erase(endpoints_file(tmp_path, store_keys, monkeypatch)) == 0
    writer = NluLogWriter(database=lambda: db)
    turn(replica(domain, store_keys, writer), "web:7003", "在吗")  # Rasa started again
    assert writer.flush()
    assert sorted(r[:2] for r in nlu_rows(db)) == [(OTHER, "路灯坏了"), ("web:7003", "在吗")]


@pytest.mark.parametrize("store, reported", [
    ("tracker_store:\n  type: redis\n  url: 127.0.0.1\n", "not an SQL tracker store (redis)"),
    ('tracker_store:\n  type: SQL\n  dialect: "sqlite"\n  db: "{tmp}/no/such/trackers.db"\n',
     "no tracker database file"),
    ("action_endpoint:\n  url: http://127.0.0.1:5055/webhook\n", "in-memory tracker store")])
def test_a_tracker_store_that_cannot_be_erased_is_reported_with_the_senders(
        resolved_case, db, tmp_path, capsys, store, reported):
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(store.replace("{tmp}", str(tmp_path)), encoding="utf-8")
    capsys.readouterr()
    assert erase(endpoints) == 0
    out = capsys.readouterr().out
    assert reported in out and f"dialogue NOT erased, remove by hand: {ERASED}" in out
    assert not (tmp_path / "no").exists()  # no empty SQLite file made on the way
    with db.uow() as uow:  # the case database is erased all the same
        assert uow.session.execute(select(ResidentIdentity)).first() is None
        [detail] = uow.session.execute(select(AuditEntry.detail)).scalars().all()
    assert json.loads(detail)["tracker_events"] is None


def test_the_endpoints_files_take_the_tracker_store_from_the_environment_as_rasa_does(
        tmp_path, monkeypatch):
    monkeypatch.delenv("MINSHENG_ACTION_TOKEN", raising=False)  # not needed for the trackers
    monkeypatch.delenv("MINSHENG_MODEL_SERVER_URL", raising=False)
    monkeypatch.setenv("MINSHENG_PG_HOST", "10.1.2.3")
    monkeypatch.setenv("MINSHENG_PG_DB", "rasa_trackers")
    url = tracker_store_url(ROOT / "endpoints.scale-out.yml")
    assert url.render_as_string() == "postgresql://postgres@10.1.2.3:5432/rasa_trackers"
    monkeypatch.setenv("MINSHENG_PG_HOST", "10.1.2.3:6543")  # a port with the host wins
    assert tracker_store_url(ROOT / "endpoints.scale-out.yml").port == 6543

    monkeypatch.delenv("MINSHENG_PG_DB")
    with pytest.raises(NotErasable, match="MINSHENG_PG_DB"):  # Rasa would not start either
        tracker_store_url(ROOT / "endpoints.scale-out.yml")

    monkeypatch.chdir(tmp_path)  # the embedded default: a file relative to where Rasa runs
    shutil.copy(ROOT / "endpoints.yml", tmp_path)
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "rasa_trackers.db").touch()
    assert tracker_store_url(Path("endpoints.yml")).render_as_string() == \
        "sqlite:///var/rasa_trackers.db"
