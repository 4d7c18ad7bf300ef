"""The NLU log, written from inside the Rasa process (nlu/tracker_store.py hands it each
saved conversation's new events).

It used to be the action ``action_validate_slot_mappings``, which Rasa calls over HTTP after
every user message only because our action server defines it: 19 % of the Rasa process's
CPU per REST turn (issue 15), for a row nobody waits for. Now the tracker store, which
already knows the new events at save, passes each typed message's text and parse data here;
a thread writes the rows, so Rasa's event loop never waits for the case database, and a
failed write is logged and never breaks a turn.

A row is found again by its message key (``minsheng.nlu_log.message_key``): the report form
keeps the key of the description (slot ``description_key``) and records the resident's
category choice against that row.
"""
from __future__ import annotations

import atexit
import logging
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# Rows waiting for the writer. A turn never waits for room: when the case database is down
# long enough to fill this, further rows are dropped (and logged), not the conversation.
QUEUE_SIZE = 10_000
BATCH = 200  # rows written in one transaction when they pile up under load


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
                 size: int = QUEUE_SIZE) -> None:
        self._make_database = database
        self._database = None
        self._queue: queue.Queue[Entry] = queue.Queue(maxsize=size)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.written = self.failed = self.dropped = 0

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
                self.dropped += 1
                log.error("NLU log queue full: message of %s not logged", entry.sender)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued entry is written (or failed); False on timeout."""
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
                # queued first (a killed process loses the last moments' rows)
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
                self._write(batch)
                self.written += len(batch)
            except Exception:  # logged; the conversation went on regardless
                self.failed += len(batch)
                log.exception("could not write %d NLU log rows", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    def _write(self, batch: list[Entry]) -> None:
        from minsheng import nlu_log
        from minsheng.enums import split_sender

        if self._database is None:
            self._database = self._make_database()
        with self._database.uow() as uow:
            for entry in batch:
                if nlu_log.find_message(uow, entry.sender, entry.key) is not None:
                    continue  # the same message delivered again (e.g. a Telegram update)
                channel, _ = split_sender(entry.sender)
                nlu_log.record_prediction(uow, channel, entry.sender, entry.text, entry.label,
                                          entry.confidence, message_key=entry.key)
            uow.commit()
