"""The channels' stores on both databases production runs on."""
from __future__ import annotations

import pytest

from minsheng.db import Database
from minsheng.models import InboundMessage


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """A migrated SQLite file, or the test session's PostgreSQL database with no inbound
    messages left by an earlier test (it is shared by the session)."""
    from minsheng.migrate import upgrade

    url = (f"sqlite:///{tmp_path / 'channels.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    upgrade(url)
    db = Database(url)
    if request.param == "postgresql":
        with db.uow() as uow:
            uow.session.execute(InboundMessage.__table__.delete())
            uow.commit()
    yield db
    db.dispose()
