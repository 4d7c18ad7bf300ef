"""Integration databases built by the Alembic migrations: an SQLite file and PostgreSQL.

SQLite: migrated once per session into a template file, copied for each test.
PostgreSQL: one fresh database per session (see tests/conftest.py); tables are emptied
after each test.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest
from sqlalchemy import create_engine, text

from minsheng.db import Database
from minsheng.migrate import upgrade
from minsheng.models import Base


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "minsheng.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def migrated_postgres(postgres_url) -> str:
    upgrade(postgres_url)
    return postgres_url


def _empty_postgres(database: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with database.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request, tmp_path: Path):
    if request.param == "sqlite":
        path = tmp_path / "minsheng.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        database = Database(f"sqlite:///{path}")
        yield database
        database.dispose()
        return
    database = Database(request.getfixturevalue("migrated_postgres"))
    _empty_postgres(database)
    yield database
    _empty_postgres(database)
    database.dispose()


# The tracker store's databases (nlu/tracker_store.py, nlu/message_log.py)
DOMAIN_YAML = """
version: "3.1"
intents: [greet, report_clutter]
slots:
  place:
    type: text
    mappings: [{type: custom}]
responses:
  utter_greet: [{text: 你好}]
"""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_keys(request, tmp_path) -> dict:
    """The endpoints keys of one tracker database, as Rasa passes them to the store."""
    if request.param == "sqlite":
        return {"dialect": "sqlite", "db": str(tmp_path / "rasa_trackers.db")}
    postgres_url = request.getfixturevalue("postgres_url")
    url = urlparse(postgres_url)
    _no_events(postgres_url)  # the session's database: a catch-up would read earlier tests'
    return {"dialect": "postgresql", "host": url.hostname, "port": url.port or 5432,
            "db": url.path.lstrip("/"), "username": url.username}


def _no_events(url: str) -> None:
    engine = create_engine(url, future=True)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS events"))
    engine.dispose()


@pytest.fixture
def domain():
    """A small Rasa domain for the tracker store tests."""
    from rasa.shared.core.domain import Domain

    return Domain.from_yaml(DOMAIN_YAML)
