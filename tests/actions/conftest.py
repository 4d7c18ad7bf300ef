import pytest

from actions import common
from minsheng.enums import GridLevel, StaffRole
from minsheng.models import Grid, Staff

NO_RASA = "http://127.0.0.1:9"  # the actions never need Rasa's HTTP API


@pytest.fixture
def database(tmp_path):
    """A real SQLite file at the Alembic head, used by the actions as in production."""
    from minsheng.db import Database
    from minsheng.migrate import upgrade
    from minsheng.settings import load_settings

    url = f"sqlite:///{tmp_path / 'minsheng.db'}"
    upgrade(url)
    db = Database(url)
    common.configure(settings=load_settings(database_url=url, rasa_url=NO_RASA, _env_file=None),
                     database=db)
    yield db
    common.configure()
    db.dispose()


@pytest.fixture
def dispatcher():
    from rasa_sdk.executor import CollectingDispatcher

    return CollectingDispatcher()


@pytest.fixture
def grid(database):
    """One community with one grid covering 幸福里小区 3号楼, its worker and leader."""
    with database.uow() as uow:
        s = uow.session
        community = Grid(code="C01", name="幸福社区", level=GridLevel.community, xiaoqu=[],
                         buildings=[])
        s.add(community)
        s.flush()
        g = Grid(code="C01-G1", name="幸福里第一网格", level=GridLevel.grid, parent_id=community.id,
                 xiaoqu=["幸福里小区"], buildings=["幸福里:3号楼"])
        s.add(g)
        s.flush()
        s.add_all([
            Staff(name="王小明", public_name="王网格", role=StaffRole.grid_worker, grid_id=g.id,
                  duty_phone="0311-8000001", telegram_user_id=9001),
            Staff(name="李大海", public_name="李网格长", role=StaffRole.grid_leader, grid_id=g.id,
                  duty_phone="0311-8000002"),
            Staff(name="赵社区", public_name="社区服务台", role=StaffRole.community,
                  grid_id=community.id, duty_phone="0311-8000000"),
        ])
        uow.commit()
    return database


# The trained model of the NLU suite (one training per session, cached by fingerprint).
from tests.nlu.conftest import parser, served_lexicon_path, trained_model_path  # noqa: F401


@pytest.fixture
def rasa_parse(parser):  # noqa: F811 - the fixture imported above
    """How our Rasa server parses a resident's message in a conversation with no form
    running: the real trained model, and the split into problems of nlu/split_at_parse.py."""
    from rasa.core.channels.channel import UserMessage
    from rasa.shared.core.trackers import DialogueStateTracker

    from nlu import split_at_parse

    async def parse(text: str) -> dict:
        tracker = DialogueStateTracker.from_events("telegram:4242", [])
        return await split_at_parse.parse_message(parser.processor, UserMessage(text), tracker)

    return parse
