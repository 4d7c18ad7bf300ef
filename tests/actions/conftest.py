import pytest

from actions import common


@pytest.fixture
def database(tmp_path):
    """A real SQLite file at the Alembic head, used by the actions as in production."""
    from minsheng.db import Database
    from minsheng.migrate import upgrade
    from minsheng.settings import load_settings

    url = f"sqlite:///{tmp_path / 'minsheng.db'}"
    upgrade(url)
    db = Database(url)
    common.configure(settings=load_settings(database_url=url, _env_file=None), database=db)
    yield db
    common.configure()
    db.dispose()


@pytest.fixture
def dispatcher():
    from rasa_sdk.executor import CollectingDispatcher

    return CollectingDispatcher()
