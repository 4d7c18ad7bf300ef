"""Shared fixtures. Under CI=true an unreachable PostgreSQL or Redis is a failure, not a skip."""
from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get("MINSHENG_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_ADDR = ("127.0.0.1", 6379)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip locally, fail under CI, when a scale-out service is not running."""
    if _reachable(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if in_ci():
        pytest.fail(message + " (CI=true requires it)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh database on the shared server for this test session, dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    from sqlalchemy import create_engine, text

    name = f"minsheng_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def redis_addr():
    require_service("Redis", *REDIS_ADDR)
    return REDIS_ADDR


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'minsheng.db'}"


@pytest.fixture
def db(sqlite_url: str):
    """A SQLite file database built by the Alembic migrations, as production builds it."""
    from minsheng.db import Database
    from minsheng.migrate import upgrade

    upgrade(sqlite_url)
    database = Database(sqlite_url)
    yield database
    database.dispose()


@pytest.fixture(scope="session", autouse=True)
def _secrets_outside_the_checkout(tmp_path_factory):
    """Secrets a test does not set are made in a temporary folder, never in the checkout's var/."""
    os.environ["MINSHENG_SECRETS_DIR"] = str(tmp_path_factory.mktemp("secrets"))
