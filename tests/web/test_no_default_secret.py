"""No committed secret opens the console: a cookie signed with the once-committed default
key is refused; the key actually in use was made on first run in var/secrets."""
from __future__ import annotations

import json
from base64 import b64encode

import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner
from sqlalchemy import select

from minsheng.models import WebUser
from minsheng.sessions import open_session
from minsheng.settings import load_settings

ONCE_COMMITTED_KEY = "minsheng-local-dev-key-please-override"
PROTECTED = [("/admin", 303), ("/nlu", 303), ("/api/cases", 401), ("/api/stats", 401)]


def forged_session(secret: str, token: str) -> str:
    """The cookie Starlette's SessionMiddleware would set for session ``token``."""
    data = b64encode(json.dumps({"sid": token}).encode())
    return TimestampSigner(secret).sign(data).decode()


@pytest.fixture
def unset_key_app(tmp_path, db, rasa, world):
    from web.app import create_app

    settings = load_settings(database_url=db.url, rasa_url=rasa.url, rasa_token=rasa.token,
                             photos_dir=tmp_path / "photos", models_dir=tmp_path / "models",
                             secrets_dir=tmp_path / "secrets", _env_file=None)
    app = create_app(settings)
    yield app
    app.state.db.dispose()


def admin_session(db) -> str:
    """A live server-side session of the admin (as if stolen from the database's owner)."""
    with db.uow() as uow:
        admin = uow.session.execute(
            select(WebUser.id).where(WebUser.username == "admin")).scalar_one()
        token = open_session(uow, admin)
        uow.commit()
        return token


@pytest.mark.parametrize("path,refused_status", PROTECTED)
def test_a_cookie_signed_with_the_once_committed_key_is_refused(unset_key_app, db, path,
                                                                refused_status):
    client = TestClient(unset_key_app, follow_redirects=False)
    client.cookies.set("minsheng_session", forged_session(ONCE_COMMITTED_KEY, admin_session(db)))
    assert client.get(path).status_code == refused_status


def test_the_key_in_use_was_made_on_first_run_and_is_what_signs_sessions(unset_key_app, db,
                                                                          tmp_path):
    key = (tmp_path / "secrets" / "web_secret_key").read_text().strip()
    assert key == unset_key_app.state.settings.web_secret_key
    assert len(key) >= 32 and key != ONCE_COMMITTED_KEY
    # The same forgery with the real key is accepted: the refusal above is about the key.
    client = TestClient(unset_key_app, follow_redirects=False)
    client.cookies.set("minsheng_session", forged_session(key, admin_session(db)))
    assert client.get("/admin").status_code == 200
