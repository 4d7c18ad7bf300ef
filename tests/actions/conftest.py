import pytest

from actions import common
from minsheng.enums import GridLevel, StaffRole
from minsheng.models import Grid, Staff

NO_RASA = "http://127.0.0.1:9"


@pytest.fixture
def database(tmp_path):
    """A real SQLite file at the Alembic head, used by the actions as in production."""
    from minsheng.db import Database
    from minsheng.migrate import upgrade
    from minsheng.settings import load_settings

    url = f"sqlite:///{tmp_path / 'minsheng.db'}"
    upgrade(url)
    db = Database(url)
    # No Rasa server unless a test starts one (rasa_parse_server): a report is never split
    # by whatever happens to listen on the default port.
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

RASA_TOKEN = "split-test-token-0123456789"


@pytest.fixture(scope="session")
def parse_server(parser):  # noqa: F811 - the fixture imported above
    """Rasa's ``POST /model/parse`` over real HTTP, answered by the real trained model.

    A thin server around the in-process model instead of ``rasa run``: it loads the model
    the NLU suite already holds (no second minute-long start) and answers exactly what
    Rasa's endpoint answers — the parse of the text, refusing calls without the token.
    """
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from urllib.parse import parse_qs, urlparse

    calls: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            url = urlparse(self.path)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if url.path != "/model/parse" or parse_qs(url.query).get("token") != [RASA_TOKEN]:
                self.send_response(401)
                self.end_headers()
                return
            calls.append(body["text"])
            answer = json.dumps(parser.parse(body["text"]), default=float).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.calls = calls
    server.url = f"http://127.0.0.1:{server.server_port}"
    yield server
    server.shutdown()


@pytest.fixture
def rasa_parse_server(database, parse_server):
    """The actions' settings point at the parse server, with its token."""
    from minsheng.settings import load_settings

    settings = load_settings(database_url=database.url, rasa_url=parse_server.url,
                             rasa_token=RASA_TOKEN, _env_file=None)
    common.configure(settings=settings, database=database)
    parse_server.calls.clear()
    return parse_server
