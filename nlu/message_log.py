"""The NLU log, written from inside the Rasa process (nlu/tracker_store.py hands it each
saved conversation's new events).

It used to be the action ``action_validate_slot_mappings``, which Rasa calls over HTTP after
every user message only because our action server defines it: 19 % of the Rasa process's
CPU per REST turn (issue 15), for a row nobody waits for. Now the tracker store, which
already knows the new events at save, passes each typed message's text and parse data here;
a thread writes the rows, so Rasa's event loop never waits for the case database, and a
failed write is logged and never breaks a turn.

No row is lost for good when the queue is: a failed write is retried with backoff, and the
thread catches up from the tracker store — whose ``events`` table holds every message — when
it starts (a Rasa killed with rows queued) and when the case database answers again after
failing (rows dropped from a full queue meanwhile): it logs the typed messages of the recent
events that have no row yet. Replicas catching up at once log a message once (the unique
index on (sender, message_key), ``minsheng.nlu_log.log_message``).

A row is found again by its message key (``minsheng.nlu_log.message_key``): the report form
keeps the key of the description (slot ``description_key``) and records the resident's
category choice against that row.
"""
from __future__ import annotations

import atexit
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import DataError, IntegrityError

log = logging.getLogger(__name__)

# Rows waiting for the writer. A turn never waits for room: when the case database is down
# long enough to fill this, further rows are dropped (and logged), not the conversation.
QUEUE_SIZE = 10_000
BATCH = 200  # rows written in one transaction when they pile up under load
MAX_RETRY_WAIT = 60.0  # seconds between attempts while the case database stays down

# How far back a catch-up reads the tracker store: the day before it fell due (the start,
# the first failed write), or further back to the newest logged row when the log had been
# silent longer (the case database down for days), less a margin. So a start reads the
# recent events, never years of them. A day covers a replica that stayed down overnight
# while others went on logging (whose newer rows hide its losses from the newest-row rule);
# the margin covers rows written after their events (a turn's length, a batch's write) and
# the clocks of different hosts.
CATCH_UP_WINDOW = 24 * 3600.0
CATCH_UP_MARGIN = 600.0

# Errors of the rows themselves (a value PostgreSQL refuses, e.g. a NUL byte): trying again
# cannot help, so such a batch is written row by row and a refused row dropped (logged).
# Anything else — the database down or locked, a connection lost — is retried.
ROW_ERRORS = (DataError, IntegrityError, ValueError)


@dataclass(frozen=True)
class Entry:
    """One typed resident message and what the classifier made of it."""

    sender: str
    key: str
    text: str
    label: str
    confidence: float


def top_prediction(parse: dict[str, Any]) -> tuple[str, float]:
    """The 8-label view of the best non-fallback intent and its confidence."""
    from nlu.decision import FALLBACK_INTENT, label_of_intent

    ranking = [r for r in parse.get("intent_ranking") or [] if r.get("name") != FALLBACK_INTENT]
    if not ranking:
        intent = parse.get("intent") or {}
        ranking = [intent] if intent.get("name") else []
    if not ranking:
        return "out_of_scope", 0.0
    best = max(ranking, key=lambda r: r.get("confidence") or 0.0)
    return label_of_intent(best.get("name", "")), float(best.get("confidence") or 0.0)


def entries(sender_id: str, events: Iterable[dict[str, Any]]) -> list[Entry]:
    """The log entries of these events (``Event.as_dict()``): typed user messages only —
    button payloads, neutralised commands and Rasa's external triggers carry no words."""
    from minsheng.nlu_log import is_typed, message_key

    found = []
    for event in events:
        if event.get("event") != "user":
            continue
        text = (event.get("text") or "").strip()
        if not is_typed(text):
            continue
        label, confidence = top_prediction(event.get("parse_data") or {})
        found.append(Entry(sender_id, message_key(event), text, label, confidence))
    return found


def default_database():
    """The case database of this process's settings (the environment Rasa runs in, as the
    action server's: minsheng/processes.py, minsheng/topology.py, the test harnesses)."""
    from minsheng.db import Database
    from minsheng.settings import load_settings

    return Database(load_settings().database_url)


class NluLogWriter:
    """A queue of entries and one daemon thread that writes them to the case database."""

    def __init__(self, database: Callable[[], Any] = default_database,
                 size: int = QUEUE_SIZE, first_retry: float = 1.0) -> None:
        self._make_database = database
        self._database = None
        self._queue: queue.Queue[Entry] = queue.Queue(maxsize=size)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.first_retry = first_retry
        # (sender, event JSON) of the tracker store's user events since a Unix time, oldest
        # first: CachedSQLTrackerStore.user_events_since. None: nothing to catch up from.
        self.tracker_events: Callable[[float], list[tuple[str, str]]] | None = None
        # since when a catch-up is due (None: not due); first at the start: a killed
        # predecessor's queue is lost
        self._catch_up_due: float | None = time.time()
        # rows written from the queue, and by catch-ups; failed attempts; rows refused
        self.written = self.recovered = self.retries = self.failed = self.dropped = 0

    def submit(self, sender_id: str, events: Iterable[Any]) -> None:
        """Queue the typed messages among ``events`` (Rasa events); returns at once."""
        try:
            found = entries(sender_id, (e.as_dict() for e in events if e.type_name == "user"))
        except Exception:  # the NLU log never breaks a turn
            log.exception("could not read the NLU log entries of %s", sender_id)
            return
        if not found:
            return
        self._start()
        for entry in found:
            try:
                self._queue.put_nowait(entry)
            except queue.Full:
                self.dropped += 1  # the next catch-up logs it
                log.error("NLU log queue full: message of %s not logged", entry.sender)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued entry is written (or refused) and any catch-up it
        started is done; False on timeout (e.g. while the case database is down)."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="nlu-log", daemon=True)
                self._thread.start()
                # a daemon thread dies with the process: on a clean stop, write what is
                # queued first (a killed process loses the queue; the next start's catch-up
                # logs it from the tracker store)
                atexit.register(self.flush, 2.0)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self.written += self._deliver(batch)
                # after the live rows: the first of them may be a description the report
                # form is about to look up
                if self._catch_up_due is not None:
                    self._catch_up()
            except Exception:  # a bug here must not end the thread
                log.exception("NLU log writer")
            finally:
                for _ in batch:
                    self._queue.task_done()

    def _deliver(self, batch: list[Entry]) -> int:
        """Write ``batch``, waiting for the database as long as it takes; a row that the
        database refuses is dropped (logged), not the others. The rows written."""
        try:
            return self._retrying(batch)
        except ROW_ERRORS:
            if len(batch) > 1:
                return sum(self._deliver([entry]) for entry in batch)
            self.failed += 1
            log.exception("NLU log row of %s refused: not logged", batch[0].sender)
            return 0

    def _retrying(self, batch: list[Entry]) -> int:
        wait = self.first_retry
        while True:
            try:
                return self._write(batch)
            except ROW_ERRORS:
                raise
            except Exception:  # the conversation goes on; these rows wait in this thread
                self.retries += 1
                log.exception("could not write %d NLU log rows, trying again in %.1f s",
                              len(batch), wait)
                # once the database answers: rows a full queue dropped meanwhile
                if self._catch_up_due is None:
                    self._catch_up_due = time.time()
                time.sleep(wait)
                wait = min(wait * 2, MAX_RETRY_WAIT)

    def _db(self):
        if self._database is None:
            self._database = self._make_database()
        return self._database

    def _write(self, batch: list[Entry]) -> int:
        from minsheng import nlu_log
        from minsheng.enums import split_sender

        with self._db().uow() as uow:
            # a message logged already: delivered again (e.g. a Telegram update), or read
            # again by a catch-up
            known = nlu_log.logged_keys(uow, ((e.sender, e.key) for e in batch))
            written = sum(
                nlu_log.log_message(uow, split_sender(e.sender)[0], e.sender, e.text, e.label,
                                    e.confidence, e.key)
                for e in batch if (e.sender, e.key) not in known)
            uow.commit()
        return written

    def _catch_up(self) -> None:
        """Log the typed messages of the recent tracker events that have no row yet."""
        if self.tracker_events is None:
            self._catch_up_due = None
            return
        started = time.monotonic()
        try:
            events = self.tracker_events(self._catch_up_since(self._catch_up_due))
            found = [entry for sender, data in events
                     for entry in entries(sender, [json.loads(data)])]
        except Exception:  # tried again after the next write
            log.exception("NLU log catch-up could not read the messages")
            return
        self._catch_up_due = None
        recovered = sum(self._deliver(found[i:i + BATCH]) for i in range(0, len(found), BATCH))
        self.recovered += recovered
        log.info("NLU log catch-up: %d messages read, %d rows missing written, %.1f s",
                 len(found), recovered, time.monotonic() - started)

    def _catch_up_since(self, due: float) -> float:
        """The Unix time a catch-up due since ``due`` reads from (CATCH_UP_WINDOW)."""
        from minsheng.models import NluMessage

        # the newest row logged before: rows written since (this writer's own first batch,
        # after an outage) are no sign that the log was complete up to them
        before = datetime.fromtimestamp(due, timezone.utc).replace(tzinfo=None)  # ``at``: UTC
        with self._db().uow() as uow:
            newest = uow.session.execute(select(func.max(NluMessage.at)).where(
                NluMessage.message_key.is_not(None), NluMessage.at < before)).scalar()
        since = due - CATCH_UP_WINDOW
        if newest is not None:
            since = min(since, newest.replace(tzinfo=timezone.utc).timestamp())
        return since - CATCH_UP_MARGIN
