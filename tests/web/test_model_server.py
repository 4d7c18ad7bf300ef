"""GET /api/nlu/model/current speaks Rasa's model-server protocol (rasa/core/agent.py):
the archive with ETag and filename, 304 for the fingerprint the replica already has, and
nothing for a caller without the action token. The pull itself, by real Rasa replicas, is
tested in tests/e2e/test_model_swap.py."""
import pytest

from nlu import registry

URL = "/api/nlu/model/current"


@pytest.fixture
def models(settings):
    models = settings.models_dir
    models.mkdir(parents=True)
    for name, body in (("minsheng-a.tar.gz", b"model a"), ("minsheng-b.tar.gz", b"model b")):
        (models / name).write_bytes(body)
    registry.promote(models, "minsheng-a.tar.gz")
    return models


def pull(client, settings, fingerprint: str | None = None):
    headers = {"Authorization": f"Bearer {settings.action_token}"}
    if fingerprint is not None:
        headers["If-None-Match"] = fingerprint
    return client.get(URL, headers=headers)


def test_a_replica_gets_the_current_model_with_its_name_as_etag(client, settings, models):
    response = pull(client, settings, fingerprint="a-random-uuid-from-rasa")
    assert response.status_code == 200
    assert response.content == b"model a"
    assert response.headers["etag"] == '"minsheng-a.tar.gz"'
    assert response.headers["filename"] == "minsheng-a.tar.gz"


def test_a_replica_with_the_current_model_gets_304_until_a_promote(client, settings, models):
    etag = pull(client, settings).headers["etag"]
    unchanged = pull(client, settings, fingerprint=etag)
    assert unchanged.status_code == 304 and unchanged.content == b""
    registry.promote(models, "minsheng-b.tar.gz")
    changed = pull(client, settings, fingerprint=etag)
    assert changed.status_code == 200 and changed.content == b"model b"
    registry.rollback(models)
    assert pull(client, settings, fingerprint=etag).status_code == 304


def test_without_the_action_token_no_model_leaves(client, settings, models):
    assert client.get(URL).status_code == 401
    wrong = client.get(URL, headers={"Authorization": f"Bearer {settings.rasa_token}"})
    assert wrong.status_code == 401 and b"model" not in wrong.content


def test_no_trained_model_is_a_404_which_rasa_reads_as_keep_yours(client, settings):
    assert pull(client, settings).status_code == 404
