"""Unit tests run on a throw-away SQLite file built with create_all (fast, no migrations)."""
from __future__ import annotations

from pathlib import Path

import pytest

from minsheng.db import Database
from minsheng.models import Base
from tests.factories import build_world


@pytest.fixture
def db(tmp_path: Path):
    database = Database(f"sqlite:///{tmp_path / 'unit.db'}")
    Base.metadata.create_all(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def world(db):
    return build_world(db)
