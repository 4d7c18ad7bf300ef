"""nlu/tracker_store.py on a real SQLite file and a real PostgreSQL: the cached tracker is
what Rasa's own SQL tracker store would read, also when another replica wrote meanwhile."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from nlu.tracker_store import CachedSQLTrackerStore

ROOT = Path(__file__).resolve().parents[2]


def replica(domain, keys: dict, nlu_log=False) -> CachedSQLTrackerStore:
    # no NLU log unless a test gives one: it would go to the settings' case database
    return CachedSQLTrackerStore(domain=domain, nlu_log=nlu_log, **keys)


def plain_read(domain, keys: dict, sender: str) -> list[dict]:
    """The conversation as Rasa's own SQL tracker store reads it from the database."""
    from rasa.core.tracker_store import SQLTrackerStore

    store = SQLTrackerStore(domain=domain, **keys)
    try:
        tracker = asyncio.run(store.retrieve(sender))
        return [event.as_dict() for event in tracker.events]
    finally:
        store.engine.dispose()


def turn(store: CachedSQLTrackerStore, sender: str, text: str, place: str | None = None):
    """What Rasa's processor does with the store in one turn: read, append, save."""
    from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered

    async def run():
        tracker = await store.get_or_create_tracker(sender)
        tracker.update(UserUttered(text, {"name": "greet", "confidence": 1.0}))
        tracker.update(ActionExecuted("utter_greet"))
        if place:
            tracker.update(SlotSet("place", place))
        tracker.update(ActionExecuted("action_listen"))
        await store.save(tracker)
        return tracker
    return asyncio.run(run())


def stored_events(keys: dict, sender: str) -> list[tuple[str, str | None]]:
    from rasa.core.tracker_store import SQLTrackerStore
    from sqlalchemy import select

    store = SQLTrackerStore(**keys)
    try:
        with store.session_scope() as session:
            event = store.SQLEvent
            return list(session.execute(select(event.type_name, event.action_name)
                                        .where(event.sender_id == sender)
                                        .order_by(event.id)).all())
    finally:
        store.engine.dispose()


def test_later_turns_come_from_the_cache_and_store_each_event_once(domain, store_keys):
    store = replica(domain, store_keys)
    for n in range(4):
        tracker = turn(store, "resident-1", f"你好 {n}", place=f"{n}号楼")
    assert store.hits == 3  # the first turn found nothing; the next three their own tracker
    assert tracker.get_slot("place") == "3号楼"
    rows = stored_events(store_keys, "resident-1")
    assert [r for r in rows if r[0] == "user"] == [("user", None)] * 4
    assert len(rows) == len(tracker.events)
    assert [e.as_dict() for e in tracker.events] == plain_read(domain, store_keys, "resident-1")


def test_a_cached_turn_reads_the_database_once_and_writes_its_new_events(domain, store_keys):
    from sqlalchemy import event

    store = replica(domain, store_keys)
    turn(store, "resident-5", "你好")
    statements = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda conn, cursor, sql, *rest: statements.append(sql.split()[0].upper()))
    turn(store, "resident-5", "在吗", place="5号楼")
    assert store.hits == 1
    # the newest event id when the turn reads it, then the inserts: the lock Rasa holds from
    # read to save means nobody wrote in between
    assert statements.count("SELECT") == 1 and statements.count("INSERT") >= 1


def test_a_new_conversation_is_looked_up_once_and_stored_whole(domain, store_keys):
    from sqlalchemy import event

    store = replica(domain, store_keys)
    statements = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda conn, cursor, sql, *rest: statements.append(sql.split()[0].upper()))
    tracker = turn(store, "resident-6", "你好")
    # the newest event id (none), then only inserts: nothing stored is read or counted
    assert statements.count("SELECT") == 1 and statements.count("INSERT") >= 1
    assert [e.as_dict() for e in tracker.events] == plain_read(domain, store_keys, "resident-6")
    turn(store, "resident-6", "在吗")
    assert store.hits == 1  # the stored conversation is the cached one


def test_a_turn_on_another_replica_is_seen_by_the_first(domain, store_keys):
    first, second = replica(domain, store_keys), replica(domain, store_keys)
    turn(first, "resident-2", "你好", place="1号楼")
    turn(second, "resident-2", "在吗", place="2号楼")  # the other replica writes meanwhile
    tracker = turn(first, "resident-2", "您好")
    assert first.hits == 0  # its cached tracker was stale: read again from the database
    assert tracker.get_slot("place") == "2号楼"
    assert [e.as_dict() for e in tracker.events] == plain_read(domain, store_keys, "resident-2")
    assert len(stored_events(store_keys, "resident-2")) == len(tracker.events)


def test_a_tracker_changed_after_it_was_saved_is_not_served_again(domain, store_keys):
    from rasa.shared.core.events import SlotSet

    store = replica(domain, store_keys)
    tracker = turn(store, "resident-3", "你好", place="1号楼")
    tracker.update(SlotSet("place", "never saved"))  # e.g. a caller going on after save
    again = turn(store, "resident-3", "在吗")
    assert again is not tracker and again.get_slot("place") == "1号楼"
    assert [e.as_dict() for e in again.events] == plain_read(domain, store_keys, "resident-3")


def test_a_new_session_is_read_as_rasa_reads_it(domain, store_keys):
    from rasa.shared.core.events import ActionExecuted, SessionStarted

    store = replica(domain, store_keys)
    turn(store, "resident-4", "你好", place="1号楼")

    async def new_session():
        tracker = await store.retrieve("resident-4")
        tracker.update(ActionExecuted("action_session_start"))
        tracker.update(SessionStarted())
        tracker.update(ActionExecuted("action_listen"))
        await store.save(tracker)
    asyncio.run(new_session())
    tracker = turn(store, "resident-4", "在吗")
    # Rasa's store reads the latest session only; the cache does not keep the old one
    assert tracker.get_slot("place") is None
    assert [e.as_dict() for e in tracker.events] == plain_read(domain, store_keys, "resident-4")


def test_a_conversation_started_with_metadata_is_cached_and_read_as_rasa_reads_it(
        domain, store_keys):
    """A web chat, WeChat or Telegram message carries metadata: Rasa's processor writes it
    to its slot, then action_session_start and SessionStarted (stamped in that order)."""
    from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet

    store = replica(domain, store_keys)
    metadata = {"channel": "web", "message_id": "m-1"}

    async def first_turn():
        tracker = await store.get_or_create_tracker("web:abc", append_action_listen=False)
        for event in (SlotSet("session_started_metadata", metadata),
                      ActionExecuted("action_session_start"), SessionStarted(),
                      SlotSet("session_started_metadata", metadata),
                      ActionExecuted("action_listen")):
            tracker.update(event)
        await store.save(tracker)
    asyncio.run(first_turn())
    turn(store, "web:abc", "你好", place="1号楼")
    tracker = turn(store, "web:abc", "在吗")
    assert store.hits == 2  # both turns from the cache, not read again every turn
    read = plain_read(domain, store_keys, "web:abc")
    # Rasa's read starts at SessionStarted; what came before it changes nothing after it
    start = next(i for i, e in enumerate(tracker.events) if isinstance(e, SessionStarted))
    assert [e.as_dict() for e in list(tracker.events)[start:]] == read
    assert tracker.get_slot("place") == "1号楼"
    assert tracker.get_slot("session_started_metadata") == metadata


@pytest.mark.parametrize("endpoints", ["endpoints.yml", "endpoints.scale-out.yml"])
def test_the_shipped_endpoints_make_rasa_load_this_store(endpoints, domain, tmp_path,
                                                         monkeypatch):
    """Rasa falls back to in-memory trackers, with a mere warning, when it cannot import
    the class named in the endpoints file: make sure it does import it."""
    from rasa.core.tracker_store import TrackerStore
    from rasa.utils.endpoints import EndpointConfig

    keys = yaml.safe_load((ROOT / endpoints).read_text(encoding="utf-8"))["tracker_store"]
    assert keys["type"] == "nlu.tracker_store.CachedSQLTrackerStore"
    keys.update(dialect="sqlite", db=str(tmp_path / "rasa_trackers.db"), url=None)
    for server_only in ("port", "username"):
        keys.pop(server_only, None)
    store = TrackerStore.create(EndpointConfig.from_dict(keys), domain=domain)
    assert isinstance(getattr(store, "_tracker_store", store), CachedSQLTrackerStore)


def test_the_sqlite_tracker_file_is_written_in_wal_mode(domain, tmp_path):
    store = replica(domain, {"dialect": "sqlite", "db": str(tmp_path / "rasa_trackers.db")})
    turn(store, "resident-5", "你好")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    # one connection kept for the process: closing the last one checkpoints the WAL each time
    assert store.engine.pool.checkedin() == 1


def nlu_rows(db) -> list[tuple]:
    from sqlalchemy import select

    from minsheng.models import NluMessage

    with db.uow() as uow:
        return [(m.sender, m.text, m.predicted_label, m.channel.value, m.message_key)
                for m in uow.session.execute(select(NluMessage).order_by(NluMessage.id))
                .scalars()]


def test_each_typed_message_goes_to_the_nlu_log_once_from_either_replica(domain, store_keys,
                                                                         db):
    from nlu.message_log import NluLogWriter

    writer = NluLogWriter(database=lambda: db)
    first, second = replica(domain, store_keys, writer), replica(domain, store_keys, writer)
    sender = "telegram:5551"
    turn(first, sender, "楼道堆满杂物，电话13812345678")
    turn(first, sender, "/affirm")         # a button press: no words to learn from
    turn(first, sender, "／start")          # a typed command the gateway neutralised
    turn(second, sender, "还有垃圾没人清")   # the other replica: its store reads it all first
    turn(first, sender, "在吗")             # back on the first: stale cache, read again
    assert writer.flush()
    rows = nlu_rows(db)
    assert [r[:4] for r in rows] == [
        (sender, "楼道堆满杂物，电话138****5678", "out_of_scope", "telegram"),
        (sender, "还有垃圾没人清", "out_of_scope", "telegram"),
        (sender, "在吗", "out_of_scope", "telegram")]
    assert len({r[4] for r in rows}) == 3 and all(rows[i][4] for i in range(3))
    # the start's catch-up may have logged a message before its queued entry came up
    assert writer.written + writer.recovered == 3 and writer.failed == 0


def test_the_nlu_log_keys_a_message_as_the_report_form_does(domain, tmp_path, db):
    """The row is found again by the key the form keeps (description_key): the update id
    the gateway sends, else Rasa's message id."""
    from rasa.shared.core.events import ActionExecuted, UserUttered

    from minsheng.nlu_log import message_key
    from nlu.message_log import NluLogWriter

    writer = NluLogWriter(database=lambda: db)
    store = replica(domain, {"dialect": "sqlite", "db": str(tmp_path / "t.db")}, writer)

    async def run():
        tracker = await store.get_or_create_tracker("telegram:5552")
        for n, metadata in enumerate(({"update_id": 77}, {}, {"update_id": 77})):
            tracker.update(UserUttered(f"门口垃圾{n}", {"name": "report_sanitation",
                                                     "confidence": 0.9},
                                       metadata=metadata, message_id=f"rasa-{n}"))
            tracker.update(ActionExecuted("action_listen"))
            await store.save(tracker)
    asyncio.run(run())
    assert writer.flush()
    # the third is the first delivered again (same update id): logged once
    assert [(r[1], r[2], r[4]) for r in nlu_rows(db)] == [
        ("门口垃圾0", "sanitation", "update_id:77"), ("门口垃圾1", "sanitation", "rasa-1")]
    assert message_key({"metadata": {"update_id": 77}, "message_id": "x"}) == "update_id:77"


def test_a_failing_nlu_log_never_breaks_the_turn_and_its_row_lands_once_it_works(
        domain, tmp_path, db, caplog):
    from nlu.message_log import NluLogWriter

    attempts = []

    def database():  # down for the first three attempts
        attempts.append(1)
        if len(attempts) <= 3:
            raise RuntimeError("case database down")
        return db

    writer = NluLogWriter(database=database, first_retry=0.01)
    store = replica(domain, {"dialect": "sqlite", "db": str(tmp_path / "t.db")}, writer)
    tracker = turn(store, "web:5553", "垃圾没人清")
    assert tracker.latest_message.text == "垃圾没人清"  # the turn did not wait
    assert writer.flush()
    assert writer.retries == 3 and "could not write 1 NLU log rows, trying again" in caplog.text
    assert [r[:2] for r in nlu_rows(db)] == [("web:5553", "垃圾没人清")]  # once, though the
    assert writer.failed == 0  # catch-up after the recovery read it again
    assert turn(store, "web:5553", "在吗") is not None and store.hits == 1
