"""Engines and the unit of work. One unit of work per action run, callback or request."""
from __future__ import annotations

import os
import threading

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

READ_ONLY = "minsheng_read_only"  # execution option: a transaction that never writes
WRITER_WAIT = 30.0  # seconds, as SQLite's busy timeout below
_HOLDS_WRITER = "minsheng_holds_writer"
_WRITER_LOCKS: dict[str, threading.Lock] = {}
_WRITER_LOCKS_GUARD = threading.Lock()


def _writer_lock(database: str | None) -> threading.Lock:
    """One lock per SQLite file and process, held from BEGIN IMMEDIATE to its end.

    SQLite lets one writer in at a time; the others poll in its busy handler, sleeping 1, 2,
    5 … up to 100 ms between looks, so a thread may sleep on long after the lock is free.
    Threads of one process queue here instead and go in the moment it is released; other
    processes still meet SQLite's own lock."""
    if not database or database == ":memory:":
        return threading.Lock()
    with _WRITER_LOCKS_GUARD:
        return _WRITER_LOCKS.setdefault(os.path.realpath(database), threading.Lock())


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout so writers wait, not fail."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            from pathlib import Path

            Path(database).parent.mkdir(parents=True, exist_ok=True)
        if database and database != ":memory:":
            # SQLAlchemy 1.4 gives file databases a NullPool: a new connection per unit of
            # work, and closing the last one checkpoints the WAL — 5 ms each time. Keep them.
            from sqlalchemy.pool import QueuePool

            kwargs.setdefault("poolclass", QueuePool)
        engine = create_engine(
            url, future=True, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            # pysqlite's own transaction handling defers BEGIN; take it over so that
            # BEGIN IMMEDIATE below serialises writers instead of failing on upgrade.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            # In WAL mode NORMAL never corrupts; a power cut may lose the last commits but
            # not an fsync per commit (7 ms each here) — the usual WAL setting.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        writer = _writer_lock(database)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            if conn.get_execution_options().get(READ_ONLY):
                # WAL readers take no lock: a read never waits for a writer, nor blocks one
                conn.exec_driver_sql("BEGIN")
                return
            if not writer.acquire(timeout=WRITER_WAIT):
                raise OperationalError("BEGIN IMMEDIATE", None,
                                       Exception("another writer of this process holds "
                                                 f"{database} for {WRITER_WAIT:.0f} s"))
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                writer.release()
                raise
            conn.info[_HOLDS_WRITER] = True

        @event.listens_for(engine, "commit")
        @event.listens_for(engine, "rollback")
        def _sqlite_end(conn):
            # fired just before COMMIT/ROLLBACK: a writer let in now finds SQLite's lock
            # for a moment more and waits in its busy handler (1 ms), not behind a queue
            if conn.info.pop(_HOLDS_WRITER, False):
                writer.release()

        @event.listens_for(engine, "checkin")
        def _sqlite_checkin(_dbapi_conn, record):
            # a connection dropped in a transaction (invalidated) must not keep the lock
            if record.info.pop(_HOLDS_WRITER, False):
                writer.release()

        return engine
    return create_engine(url, future=True, pool_pre_ping=True, **kwargs)


class UnitOfWork:
    """A session that commits only when told to and rolls back otherwise; a read-only one
    cannot commit (on SQLite it reads without taking the write lock)."""

    def __init__(self, factory: sessionmaker, read_only: bool = False):
        self._factory = factory
        self.read_only = read_only
        self.session: Session | None = None

    def __enter__(self) -> UnitOfWork:  # noqa: PYI034 - not subclassed
        self.session = self._factory()
        return self

    def __exit__(self, *exc) -> None:
        assert self.session is not None
        self.session.rollback()
        self.session.close()

    def commit(self) -> None:
        assert self.session is not None
        if self.read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        self.session.commit()


class Database:
    """Engine plus session factory for one database URL."""

    def __init__(self, url: str, **engine_kwargs):
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, future=True, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.engine.execution_options(**{READ_ONLY: True}),
                                           future=True, expire_on_commit=False)

    def uow(self, read_only: bool = False) -> UnitOfWork:
        """A unit of work; ``read_only`` for one that only reads (it cannot commit)."""
        if read_only:
            return UnitOfWork(self._read_sessions, read_only=True)
        return UnitOfWork(self.sessions)

    def dispose(self) -> None:
        self.engine.dispose()
