"""The SQLite unit of work: reads take no write lock, a process's writers queue in order,
and a connection dropped inside a transaction lets the next writer in."""
from __future__ import annotations

import contextlib
import threading
import time

import pytest
from sqlalchemy import select
from sqlalchemy.exc import PendingRollbackError

from minsheng.models import Resident


def _hold_a_write(db, started: threading.Event, release: threading.Event) -> None:
    with db.uow() as uow:
        uow.session.add(Resident(display_name="held"))
        uow.session.flush()  # the write transaction is open, SQLite's lock taken
        started.set()
        release.wait(10)
        uow.commit()


def test_a_read_does_not_wait_for_a_writer(db):
    started, release = threading.Event(), threading.Event()
    writer = threading.Thread(target=_hold_a_write, args=(db, started, release))
    writer.start()
    try:
        assert started.wait(5)
        t0 = time.monotonic()
        with db.uow(read_only=True) as uow:
            names = uow.session.execute(select(Resident.display_name)).scalars().all()
        waited = time.monotonic() - t0
    finally:
        release.set()
        writer.join(10)
    assert names == []  # the writer's row is not committed: not seen
    assert waited < 1.0  # a BEGIN IMMEDIATE would have waited for the writer (10 s)
    with db.uow(read_only=True) as uow:
        assert uow.session.execute(select(Resident.display_name)).scalars().all() == ["held"]


def test_a_read_only_unit_of_work_cannot_commit(db):
    with db.uow(read_only=True) as uow:
        uow.session.add(Resident(display_name="not kept"))
        with pytest.raises(RuntimeError):
            uow.commit()
    with db.uow(read_only=True) as uow:
        assert uow.session.execute(select(Resident)).first() is None


def test_writers_of_one_process_at_once_all_commit(db):
    # With SQLite's own busy handler only, 8 threads writing at once sleep up to 100 ms
    # between looks; queued in the process they go in turn. Each commit is kept.
    threads, errors = [], []

    def write(i: int) -> None:
        try:
            for j in range(20):
                with db.uow() as uow:
                    uow.session.add(Resident(display_name=f"{i}-{j}"))
                    uow.commit()
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    for i in range(8):
        threads.append(threading.Thread(target=write, args=(i,)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with db.uow(read_only=True) as uow:
        assert len(uow.session.execute(select(Resident)).all()) == 160


def test_a_writer_that_failed_or_was_dropped_lets_the_next_one_in(db):
    with contextlib.suppress(PendingRollbackError), db.uow() as uow:
        uow.session.add(Resident(display_name="a"))
        uow.session.flush()
        uow.session.connection().invalidate()  # the connection is gone, in its transaction
    done = threading.Event()

    def write() -> None:
        with db.uow() as uow:
            uow.session.add(Resident(display_name="b"))
            uow.commit()
        done.set()

    threading.Thread(target=write, daemon=True).start()
    assert done.wait(5), "the next writer waited for a lock nobody holds"
    with pytest.raises(LookupError), db.uow() as uow:
        uow.session.add(Resident(display_name="c"))
        uow.session.flush()
        raise LookupError("a unit of work that fails half way")
    write_again = threading.Event()
    threading.Thread(target=lambda: (write(), write_again.set()), daemon=True).start()
    assert write_again.wait(5)
