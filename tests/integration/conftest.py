"""Integration databases built by the Alembic migrations: an SQLite file and PostgreSQL.

SQLite: migrated once per session into a template file, copied for each test.
PostgreSQL: one fresh database per session (see tests/conftest.py); tables are emptied
after each test.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

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
