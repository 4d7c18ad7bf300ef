"""Rasa's SQL tracker store, without re-reading the whole conversation every turn.

``SQLTrackerStore.retrieve`` loads every event of the conversation's latest session, parses
their JSON and replays them into a new tracker; ``save`` counts those events again to find
the new ones. Per turn that was 31 % of the Rasa process under load (issue 15's profile),
and it grows with the length of the conversation. This store keeps, per process, the tracker
it last saved and, when a turn reads it, checks that it is still current with one indexed
query — the largest event id of the conversation. Another Rasa replica writing to the same database (or anything
else appending events) changes that id, and the conversation is read in full as before, so
replicas sharing PostgreSQL stay correct. On SQLite (the embedded default) it also writes in
WAL mode without an fsync per commit. Endpoints: ``type: nlu.tracker_store.CachedSQLTrackerStore``
with the keys of Rasa's ``type: SQL`` store.

It also hands every saved user message to the NLU log (nlu/message_log.py), which a thread
writes to the case database: the store already knows which events are new at save, where an
event broker would be told them by Rasa's ``stream_events`` only after one more full
``retrieve`` of the conversation per save (and that retrieve would take this cache's tracker
away from the turn). ``nlu_log: false`` in the endpoints turns it off. The log's thread also
reads the recent user events from here (``user_events_since``) to catch up on rows it lost.

A conversation with no event stored (a new resident) is not read at all: the max-id query
already says there is nothing, and its first save writes every event without asking the
database which are new (3.1-4.3 -> 0.8 ms for a new conversation's read and first save).

A tracker is handed out at most once: ``retrieve`` takes it out of the cache and ``save``
puts the saved object back. A turn that fails before saving, a read that never saves, a
second read while a turn runs: each simply finds no cached tracker and reads the database.
"""
from __future__ import annotations

import itertools
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.constants import ACTION_SESSION_START_NAME, SESSION_START_METADATA_SLOT
from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy import bindparam, create_engine, event, func, insert, select
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import QueuePool

from nlu.message_log import NluLogWriter

# Conversations kept per process. A whole web chat report conversation (about 70 events) held
# as a tracker takes about 90 kB of RSS: 2000 of them grew Rasa by some 180 MB (+20 %) under a
# soak of new residents. Only the conversations of the last minutes need to be here — one
# that fell out is read once in full when its resident writes again.
DEFAULT_CACHE_SIZE = 500


def _sqlite_wal(dbapi_connection, _record) -> None:
    # As minsheng/db.py does for the case database: in WAL mode NORMAL never corrupts, a
    # power cut may lose the last commits, and a commit no longer waits for an fsync —
    # which, Rasa's SQL calls being synchronous, held up every other conversation.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@dataclass
class Known:
    """A tracker whose events up to ``stored`` are the database's, up to event ``last_id``;
    ``tracker`` None: the conversation had no event stored when it was read."""

    tracker: DialogueStateTracker | None
    stored: int
    last_id: int | None

    def untouched(self) -> bool:
        # nothing appended to the object since it was saved (e.g. by a caller after save)
        return len(self.tracker.events) == self.stored


class CachedSQLTrackerStore(SQLTrackerStore):
    """SQLTrackerStore with the last saved tracker of each conversation kept in memory."""

    def __init__(self, *args: Any, cache_size: int = DEFAULT_CACHE_SIZE,
                 nlu_log: bool | NluLogWriter = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # True: the case database of the settings (the environment Rasa runs in); tests
        # give their own writer, or False
        self.nlu_log = NluLogWriter() if nlu_log is True else (nlu_log or None)
        if self.nlu_log is not None:
            self.nlu_log.tracker_events = self.user_events_since
        if self.engine.dialect.name == "sqlite":
            # SQLAlchemy 1.4 gives an SQLite file no pool: every read and save opened the
            # file, and closing its last connection checkpoints the WAL (an fsync). One
            # pooled connection, with the pragmas, for the whole process instead.
            url = self.engine.url
            self.engine.dispose()
            self.engine = create_engine(url, poolclass=QueuePool, pool_size=1, max_overflow=4,
                                        connect_args={"check_same_thread": False})
            event.listen(self.engine, "connect", _sqlite_wal)
            self.sessionmaker = sessionmaker(bind=self.engine)
        self._max_id = select(func.max(self.SQLEvent.id)).where(
            self.SQLEvent.sender_id == bindparam("sender"))
        self.cache_size = int(cache_size)
        self._cached: OrderedDict[str, Known] = OrderedDict()  # least recently saved first
        # handed out by retrieve and not saved back yet (a read that never saves stays here)
        self._issued: OrderedDict[str, Known] = OrderedDict()
        self.hits = self.misses = 0

    def user_events_since(self, since: float, page: int = 1000) -> list[tuple[str, str]]:
        """(sender, event JSON) of the user events stamped ``since`` (a Unix time) or later,
        oldest first. Read backwards along the primary key, page by page, until a page ends
        before ``since``: the table has no index on the time, and a filter on it would scan
        every event ever stored. Ids follow the save order, times the events' creation (a turn
        saves its events at its end): the caller's margin covers the difference."""
        found: list[tuple[str, str]] = []
        before = None
        with self.session_scope() as session:
            while True:
                query = select(self.SQLEvent.id, self.SQLEvent.sender_id,
                               self.SQLEvent.timestamp, self.SQLEvent.data
                               ).where(self.SQLEvent.type_name == "user")
                if before is not None:
                    query = query.where(self.SQLEvent.id < before)
                rows = session.execute(query.order_by(self.SQLEvent.id.desc()).limit(page)).all()
                found += [(r.sender_id, r.data) for r in rows if (r.timestamp or 0) >= since]
                if len(rows) < page or (rows[-1].timestamp or 0) < since:
                    break
                before = rows[-1].id
        found.reverse()
        return found

    def _last_event_id(self, session, sender_id: str) -> int | None:
        # built once: a statement made per call cost more than the indexed query itself
        return session.execute(self._max_id, {"sender": sender_id}).scalar()

    def _stored_last_id(self, sender_id: str) -> int | None:
        """The conversation's largest event id, on a pooled connection of its own: one
        SELECT, without an ORM session made and closed around it for every turn."""
        with self.engine.connect() as connection:
            return connection.execute(self._max_id, {"sender": sender_id}).scalar()

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        last_id = self._stored_last_id(sender_id)
        known = self._cached.pop(sender_id, None)
        if last_id is None:
            # Nothing stored (a new resident, or one erased): what Rasa's read would find
            # too, without reading. Rasa creates the conversation and saves it next, and the
            # save then knows that every event is new.
            self.misses += 1
            self._issued[sender_id] = Known(None, 0, None)
            self._trim(self._issued)
            return None
        if known is not None and known.last_id == last_id and known.untouched():
            self.hits += 1
            tracker = known.tracker
        else:
            self.misses += 1
            # Read after the id: an event written in between makes last_id look older than
            # the tracker, and save() then finds the database moved and caches nothing.
            tracker = await super().retrieve(sender_id)
        if tracker is not None:
            self._issued[sender_id] = Known(tracker, len(tracker.events), last_id)
            self._trim(self._issued)
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        sender_id = tracker.sender_id
        # the record of this very object: handed out by retrieve, or saved before and saved
        # again (Rasa's create_tracker saves a new conversation, then the turn saves it)
        issued = self._issued.pop(sender_id, None) or self._cached.pop(sender_id, None)
        empty = issued is not None and issued.tracker is None  # read as empty, under the lock
        if issued is not None and issued.tracker is not tracker:
            issued = None
        with self.session_scope() as session:
            if empty:
                last_id, new_events, in_step = None, list(tracker.events), True
            elif issued is not None:
                # Ours, read at event ``issued.last_id``; nobody wrote since, so the new events
                # are the appended ones. Rasa holds the conversation's lock from retrieve to
                # save on every path that writes (a message, a trigger, an appended or
                # executed event), and replicas share that lock (Redis); a write bypassing it
                # would break Rasa's own store too. Asking the database again here cost one
                # query a turn (4 % of the process under load).
                last_id = issued.last_id
                new_events = list(itertools.islice(tracker.events, issued.stored, None))
                in_step = True
            else:
                # unknown to us (a new conversation, or handed out before the cache knew it):
                # Rasa's own way of finding the events not stored yet
                last_id = self._last_event_id(session, sender_id)
                new_events = list(self._additional_events(session, tracker))
                in_step = last_id is None  # we wrote the whole conversation
            rows = [self._row(sender_id, event) for event in new_events]
            if rows:
                last_id = self._insert(session, rows)
            session.commit()
        if self.nlu_log is not None:
            # after the commit: a message is logged once its turn is stored (queued here,
            # written by the log's thread)
            self.nlu_log.submit(sender_id, new_events)
        if in_step and self._one_session(tracker):
            self._cached[sender_id] = Known(tracker, len(tracker.events), last_id)
            self._trim(self._cached)

    def _trim(self, known: OrderedDict[str, Known]) -> None:
        while len(known) > self.cache_size:
            known.popitem(last=False)  # the conversation written longest ago

    @staticmethod
    def _one_session(tracker: DialogueStateTracker) -> bool:
        """True unless a session started after earlier events: ``retrieve`` from the
        database returns the latest session only, and so must the cache. What starts the
        session itself may come before its SessionStarted (``_session_preamble``)."""
        starts = [i for i, event in enumerate(tracker.events) if isinstance(event, SessionStarted)]
        return not starts or all(
            _session_preamble(e) for e in itertools.islice(tracker.events, starts[-1]))

    @staticmethod
    def _row(sender_id: str, event) -> dict[str, Any]:
        # the columns SQLTrackerStore.save writes
        data = event.as_dict()
        return {"sender_id": sender_id, "type_name": event.type_name,
                "timestamp": data.get("timestamp"),
                "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                "action_name": data.get("name"), "data": json.dumps(data)}

    def _insert(self, session, rows: list[dict[str, Any]]) -> int:
        """Insert ``rows`` in order; the last row's id.

        Core statements rather than the ORM's unit of work (about 9 % of Rasa's web chat
        turn flushed a turn's few events): all but the last row in one executemany, then
        the last alone for its id (RETURNING on PostgreSQL, the row id on SQLite). Both
        statements compile once; a multi-row VALUES would compile on every save."""
        table = self.SQLEvent.__table__
        if len(rows) > 1:
            session.execute(insert(table), rows[:-1])
        if self.engine.dialect.name == "sqlite":
            return session.execute(insert(table), rows[-1]).lastrowid
        return session.execute(insert(table).returning(table.c.id), rows[-1]).scalar_one()


def _session_preamble(event) -> bool:
    """An event Rasa writes just before a new session's SessionStarted: the session's
    metadata in its slot (a message with metadata: every web chat, WeChat and Telegram
    turn), and ``action_session_start``. Stamped before SessionStarted, Rasa's read leaves
    them out, and SessionStarted resets everything they set; before this, a web chat
    conversation (its metadata slot first) was never cached — 7.5 % of Rasa's CPU under
    20 web chat clients went to reading it again every turn (stop 20)."""
    if isinstance(event, ActionExecuted):
        return event.action_name == ACTION_SESSION_START_NAME
    return isinstance(event, SlotSet) and event.key == SESSION_START_METADATA_SLOT
