"""Integration databases built by the Alembic migrations: an SQLite file and PostgreSQL.

SQLite: migrated once per session into a template file, copied for each test.
PostgreSQL: one fresh database per session (see tests/conftest.py); tables are emptied
after each test.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlparse

import pytest
from sqlalchemy import create_engine, text

from minsheng import nlu_log
from minsheng.db import Database
from minsheng.enums import Category, Channel, FeedbackRoute, Rating
from minsheng.migrate import upgrade
from minsheng.models import Base
from minsheng.places import Place
from minsheng.services import cases
from tests.factories import T0, build_world


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


# `minsheng privacy` (test_privacy_requests.py, test_erase_dialogue.py)
@pytest.fixture
def resolved_case(db, monkeypatch, tmp_path):
    """A Telegram resident's case, with a photo, resolved and rated with a comment."""
    monkeypatch.setenv("MINSHENG_DATABASE_URL", db.url)
    monkeypatch.setenv("MINSHENG_PHOTOS_DIR", str(tmp_path / "photos"))
    # never the working copy's tracker store (tests that erase the dialogue give their own)
    monkeypatch.setenv("MINSHENG_RASA_ENDPOINTS", str(tmp_path / "endpoints.yml"))
    photo = tmp_path / "photos" / "p.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"jpeg")
    build_world(db)
    who = cases.ResidentRef(Channel.telegram, "777001", "张三")
    with db.uow() as uow:
        opened = cases.open_case(uow, cases.NewCase(
            channel=Channel.telegram, idempotency_key="k1", description="3号楼楼道堆满纸箱",
            category=Category.clutter, place=Place("幸福里小区", "3号楼", "2单元", "502"),
            phone="13812345678", photos=[str(photo)], resident=who), now=T0)
        nlu_log.record_prediction(uow, "telegram", "telegram:777001", "3号楼楼道堆满纸箱",
                                  "clutter", 0.9)
        uow.commit()
    with db.uow() as uow:
        worker = cases.get_case(uow, opened.case_no).assignee_id
        cases.acknowledge(uow, opened.case_no, worker, now=T0)
        # no 办结 photo rule here: the export is about the resident's own photo only
        cases.resolve(uow, opened.case_no, worker, "已清理", now=T0,
                      settings=SimpleNamespace(resolve_photo_categories=[]))
        cases.rate(uow, opened.case_no, Rating.satisfied, FeedbackRoute.online,
                   comment="张三很满意，电话13812345678", resident=who, now=T0)
        uow.commit()
    return opened.case_no, photo
