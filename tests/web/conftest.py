"""The web app under test: a real SQLite database built by the migrations, a small grid
tree with staff and console logins, and a fake Rasa server."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from minsheng.db import Database
from minsheng.enums import GridLevel, StaffRole
from minsheng.models import Grid, Staff
from minsheng.settings import load_settings
from minsheng.users import create_user
from tests.web.fake_rasa import FakeRasa

PASSWORD = "correct-horse-9"
ARTEFACTS = Path(__file__).resolve().parents[1] / "artefacts"


@dataclass(frozen=True)
class World:
    street_id: int
    community_id: int
    grid1_id: int
    grid2_id: int
    worker1_id: int
    worker2_id: int
    leader_id: int
    community_staff_id: int


def seed_world(db: Database) -> World:
    """街道 → 社区 → two grids, a worker in each, a grid leader, and the console logins."""
    with db.uow() as uow:
        s = uow.session
        street = Grid(code="1301", name="和平街道", level=GridLevel.street, xiaoqu=[], buildings=[])
        s.add(street)
        s.flush()
        community = Grid(code="130101", name="幸福社区", level=GridLevel.community,
                         parent_id=street.id, xiaoqu=["幸福小区", "阳光花园"], buildings=[])
        s.add(community)
        s.flush()
        grid1 = Grid(code="13010101", name="幸福第一网格", level=GridLevel.grid,
                     parent_id=community.id, xiaoqu=["幸福小区"], buildings=[],
                     lat=38.04, lon=114.51)
        grid2 = Grid(code="13010102", name="阳光第二网格", level=GridLevel.grid,
                     parent_id=community.id, xiaoqu=["阳光花园"], buildings=[],
                     lat=38.05, lon=114.52)
        s.add_all([grid1, grid2])
        s.flush()
        worker1 = Staff(name="王芳", public_name="王网格员", role=StaffRole.grid_worker,
                        grid_id=grid1.id, duty_phone="0311-1234567")
        worker2 = Staff(name="李强", public_name="李网格员", role=StaffRole.grid_worker,
                        grid_id=grid2.id)
        leader = Staff(name="赵敏", public_name="赵网格长", role=StaffRole.grid_leader,
                       grid_id=community.id)
        desk = Staff(name="孙丽", public_name="孙社区", role=StaffRole.community,
                     grid_id=community.id)
        s.add_all([worker1, worker2, leader, desk])
        s.flush()
        create_user(uow, "admin", PASSWORD, "admin")
        create_user(uow, "street", PASSWORD, "street", "1301")
        create_user(uow, "community", PASSWORD, "community", "130101", staff_id=desk.id)
        create_user(uow, "grid1", PASSWORD, "grid", "13010101", staff_id=worker1.id)
        create_user(uow, "grid2", PASSWORD, "grid", "13010102", staff_id=worker2.id)
        uow.commit()
        return World(street.id, community.id, grid1.id, grid2.id, worker1.id, worker2.id,
                     leader.id, desk.id)


@pytest.fixture
def world(db) -> World:
    return seed_world(db)


@pytest.fixture
def rasa():
    fake = FakeRasa().start()
    yield fake
    fake.stop()


@pytest.fixture
def settings(tmp_path: Path, db: Database, rasa: FakeRasa):
    return load_settings(database_url=db.url, rasa_url=rasa.url, rasa_token=rasa.token,
                         photos_dir=tmp_path / "photos", models_dir=tmp_path / "models",
                         web_secret_key="web-test-secret-key-0123456789", _env_file=None)


@pytest.fixture
def app(settings, world):
    from web.app import create_app

    application = create_app(settings)
    yield application
    application.state.db.dispose()


@pytest.fixture
def client(app):
    with TestClient(app) as test_client:
        yield test_client


def csrf_of(client: TestClient) -> str:
    if "csrftoken" not in client.cookies:
        client.get("/login")
    return client.cookies["csrftoken"]


def login(client: TestClient, username: str, password: str = PASSWORD):
    return client.post("/login", data={"username": username, "password": password,
                                       "csrftoken": csrf_of(client), "next": "/cases"},
                       follow_redirects=False)


def post(client: TestClient, url: str, data: dict | None = None, **kwargs):
    """A form POST with the CSRF field filled in, as the pages send it."""
    return client.post(url, data={**(data or {}), "csrftoken": csrf_of(client)},
                       follow_redirects=False, **kwargs)


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives headless Chromium against a live server")


@pytest.fixture
def live(app):
    from tests.web.browser import LiveServer

    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture
def browser(live, request):
    from tests.web.browser import Browser

    driver = Browser(live.url, request.node.name)
    yield driver
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        driver.screenshot("failure")
    driver.quit()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report


def open_case(db: Database, description: str, xiaoqu: str, category: str = "clutter",
              building: str | None = None, channel: str = "telegram", lat=None, lon=None) -> str:
    """A case opened through the real service (routed by 小区 to its grid); its number."""
    from minsheng.enums import Category, Channel
    from minsheng.places import Place
    from minsheng.services import cases

    with db.uow() as uow:
        result = cases.open_case(uow, cases.NewCase(
            channel=Channel(channel), idempotency_key=None, description=description,
            category=Category(category), place=Place(xiaoqu=xiaoqu, building=building),
            lat=lat, lon=lon, phone="13812345678",
            resident=cases.ResidentRef(Channel(channel), f"r-{description[:8]}")))
        uow.commit()
        return result.case_no


@pytest.fixture
def held_clock(monkeypatch):
    """Attempt counters see one fixed moment, so no window boundary falls inside a test."""
    from minsheng import throttle

    monkeypatch.setattr(throttle, "now", lambda: 1_000_000.0 + 30.0)
