"""The scale-out services the suite relies on, and the CI rule for when they are missing."""
from __future__ import annotations

import pytest

from tests import conftest


def test_redis_answers_ping(redis_addr):
    import redis

    client = redis.Redis(host=redis_addr[0], port=redis_addr[1], socket_timeout=2)
    assert client.ping() is True
    client.close()


def test_postgres_session_database_is_fresh_and_migrated(postgres_url):
    from sqlalchemy import create_engine, text

    from minsheng.migrate import upgrade

    upgrade(postgres_url)
    engine = create_engine(postgres_url, future=True)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT current_database()")).scalar().startswith(
            "minsheng_test_")
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()


def test_a_missing_service_fails_under_ci_and_skips_otherwise(monkeypatch):
    closed_port = 9  # discard: nothing listens there
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        conftest.require_service("Nothing", "127.0.0.1", closed_port)
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        conftest.require_service("Nothing", "127.0.0.1", closed_port)
