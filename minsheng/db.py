"""Engines and the unit of work. One unit of work per action run, callback or request."""
from __future__ import annotations

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.engine.url import make_url
from sqlalchemy.orm import Session, sessionmaker


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

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover - trivial
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, future=True, pool_pre_ping=True, **kwargs)


class UnitOfWork:
    """A session that commits only when told to and rolls back otherwise."""

    def __init__(self, factory: sessionmaker):
        self._factory = factory
        self.session: Session | None = None

    def __enter__(self) -> "UnitOfWork":
        self.session = self._factory()
        return self

    def __exit__(self, *exc) -> None:
        assert self.session is not None
        self.session.rollback()
        self.session.close()

    def commit(self) -> None:
        assert self.session is not None
        self.session.commit()


class Database:
    """Engine plus session factory for one database URL."""

    def __init__(self, url: str, **engine_kwargs):
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, future=True, expire_on_commit=False)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions)

    def dispose(self) -> None:
        self.engine.dispose()
