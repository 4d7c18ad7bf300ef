"""No NLU log row lost for good (nlu/message_log.py): what a killed Rasa had queued, or a
write that failed, is logged from the tracker store's events — once, also when two replicas
catch up at the same moment. Real SQLite files and a real PostgreSQL."""
from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, select, text

from minsheng.db import Database
from minsheng.migrate import upgrade
from minsheng.models import NluMessage
from nlu.message_log import NluLogWriter
from tests.conftest import PG_ADMIN_URL
from tests.e2e.harness import wait_until
from tests.integration.test_cached_tracker_store import nlu_rows, replica, turn


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)  # as nlu_messages.at keeps it


def stuck_writer() -> NluLogWriter:
    """The writer of a Rasa about to be killed: its thread never reaches the case database,
    so what it queues is lost with the process."""
    never = threading.Event()
    return NluLogWriter(database=lambda: never.wait() or None)


def save_messages(store, sender: str, texts: list[str], at: float | None = None) -> None:
    """Typed messages in the tracker store only (a store without NLU log)."""
    from rasa.shared.core.events import ActionExecuted, UserUttered

    async def run():
        tracker = await store.get_or_create_tracker(sender)
        for n, words in enumerate(texts):
            tracker.update(UserUttered(words, {"name": "report_clutter", "confidence": 0.8},
                                       timestamp=None if at is None else at + n))
            tracker.update(ActionExecuted("action_listen"))
        await store.save(tracker)
    asyncio.run(run())


def test_a_message_queued_when_rasa_was_killed_is_logged_at_the_next_start(domain, store_keys,
                                                                            db):
    from minsheng.nlu_log import find_message, message_key

    killed = replica(domain, store_keys, stuck_writer())
    key = message_key(turn(killed, "telegram:6001", "楼道里堆满了纸箱").latest_message.as_dict())
    turn(killed, "telegram:6001", "/affirm")  # a button: nothing to log
    del killed  # SIGKILL: the queue is gone, the turns are in the tracker store

    writer = NluLogWriter(database=lambda: db)
    started = replica(domain, store_keys, writer)  # the restarted Rasa
    turn(started, "telegram:6002", "路灯坏了")
    assert writer.flush()
    assert sorted(r[:3] for r in nlu_rows(db)) == [
        ("telegram:6001", "楼道里堆满了纸箱", "out_of_scope"),
        ("telegram:6002", "路灯坏了", "out_of_scope")]
    assert (writer.written, writer.recovered) == (1, 1)
    # under the key the report form keeps (description_key): its correction finds the row
    with db.uow() as uow:
        assert find_message(uow, "telegram:6001", key) is not None


def test_a_catch_up_reads_the_last_day_or_back_to_the_newest_logged_row(domain, tmp_path, db):
    keys = {"dialect": "sqlite", "db": str(tmp_path / "t.db")}
    now = time.time()
    quiet = replica(domain, keys)
    save_messages(quiet, "web:6101", ["三天前：井盖丢了"], at=now - 3 * 86400)
    save_messages(quiet, "web:6102", ["两天前：楼道堆物"], at=now - 2 * 86400)
    save_messages(quiet, "web:6103", ["一小时前：垃圾没人收"], at=now - 3600)

    writer = NluLogWriter(database=lambda: db)
    turn(replica(domain, keys, writer), "web:6104", "在吗")
    assert writer.flush()
    # the log has no row older than the day: the last day only
    assert [r[1] for r in nlu_rows(db)] == ["在吗", "一小时前：垃圾没人收"]

    with db.uow() as uow:  # the log silent since 60 hours ago: a catch-up reads back to then
        row = uow.session.get(NluMessage, 1)
        row.at = utcnow() - timedelta(hours=60)
        uow.session.execute(text("DELETE FROM nlu_messages WHERE id > 1"))
        uow.commit()
    writer = NluLogWriter(database=lambda: db)
    turn(replica(domain, keys, writer), "web:6104", "还在吗")
    assert writer.flush()
    assert sorted(r[1] for r in nlu_rows(db)) == sorted(
        ["在吗", "两天前：楼道堆物", "一小时前：垃圾没人收", "还在吗"])


def rename_log_table(db, old: str, new: str) -> None:
    with db.engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


def test_messages_a_full_queue_dropped_in_an_outage_are_logged_when_the_database_answers(
        domain, tmp_path, db):
    writer = NluLogWriter(database=lambda: db, size=1, first_retry=0.05)
    store = replica(domain, {"dialect": "sqlite", "db": str(tmp_path / "t.db")}, writer)
    turn(store, "web:6401", "第一条")
    assert writer.flush() and writer.recovered == 0  # started and caught up
    texts = ["第二条", "第三条", "第四条", "第五条"]
    rename_log_table(db, "nlu_messages", "nlu_messages_away")  # every write fails now
    try:
        for words in texts:
            turn(store, "web:6401", words)
        wait_until(lambda: writer.retries >= 2, 10, "the writer to try again")
    finally:
        rename_log_table(db, "nlu_messages_away", "nlu_messages")
    assert writer.dropped >= 1  # one in the writer's hands, one in the queue
    assert writer.flush()
    assert sorted(r[1] for r in nlu_rows(db)) == sorted(["第一条", *texts])
    assert writer.recovered >= writer.dropped


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
@pytest.mark.parametrize("store_keys", ["postgresql"], indirect=True)
def test_two_replicas_catching_up_at_once_log_each_message_once(domain, store_keys, db):
    lost = [f"第{n}条：{n}号楼楼道堆满杂物" for n in range(2000)]
    save_messages(replica(domain, store_keys), "web:6201", lost)
    writers = [NluLogWriter(database=lambda: Database(db.url)) for _ in range(2)]
    replicas = [replica(domain, store_keys, w) for w in writers]
    go = threading.Barrier(2)

    def start(n: int) -> None:
        go.wait()
        turn(replicas[n], f"web:621{n}", "在吗")  # each replica's first message after start

    threads = [threading.Thread(target=start, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(w.flush(60) for w in writers)
    rows = nlu_rows(db)
    assert len(rows) == 2002 and len({(r[0], r[4]) for r in rows}) == 2002
    assert sorted(r[1] for r in rows if r[0] == "web:6201") == sorted(lost)
    # every row inserted by exactly one of them, though both read all 2002 messages
    assert sum(w.written + w.recovered for w in writers) == 2002


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_a_row_postgresql_refuses_is_dropped_and_the_others_are_logged(db, caplog):
    from rasa.shared.core.events import UserUttered

    writer = NluLogWriter(database=lambda: db, first_retry=0.01)
    writer.submit("web:6301", [UserUttered(words) for words in ("垃圾没人收", "坏\x00字", "路灯坏了")])
    assert writer.flush()
    assert [r[1] for r in nlu_rows(db)] == ["垃圾没人收", "路灯坏了"]
    assert writer.failed == 1 and writer.retries == 0 and "refused" in caplog.text


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """An empty database of its own (the migration under test runs on it)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    request.getfixturevalue("postgres_url")  # skips without a server
    name = f"minsheng_migration_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_the_migration_keeps_a_message_logged_twice_findable_and_makes_the_key_unique(
        database_url):
    from minsheng.nlu_log import find_message, log_message

    upgrade(database_url, "5e8a1c3d9f20")
    database = Database(database_url)
    try:
        with database.engine.begin() as conn:
            for n, (sender, key) in enumerate([("web:1", "k1"), ("web:1", "k1"), ("web:2", "k1"),
                                               ("web:1", None), ("web:1", None), ("web:1", "k1")]):
                conn.execute(text(
                    "INSERT INTO nlu_messages (at, sender, text, predicted_label, confidence,"
                    " message_key, corrected_label) VALUES (:at, :sender, :text, 'clutter', 0.5,"
                    " :key, :corrected)"), {"at": utcnow(), "sender": sender,
                                            "text": f"m{n}", "key": key,
                                            "corrected": "dispute" if n == 1 else None})
        upgrade(database_url)
        with database.uow() as uow:
            rows = uow.session.execute(select(NluMessage.text, NluMessage.message_key,
                                              NluMessage.corrected_label)
                                       .order_by(NluMessage.id)).all()
            assert [tuple(r) for r in rows] == [
                ("m0", "k1", None), ("m1", None, "dispute"), ("m2", "k1", None),
                ("m3", None, None), ("m4", None, None), ("m5", None, None)]
            assert find_message(uow, "web:1", "k1") == 1
            assert not log_message(uow, "web", "web:1", "again", "clutter", 0.5, "k1")
            assert log_message(uow, "web", "web:1", "new", "clutter", 0.5, "k2")
            uow.commit()
    finally:
        database.dispose()
