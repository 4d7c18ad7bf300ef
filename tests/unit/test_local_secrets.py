"""Secrets are never committed defaults: made once per host in var/secrets, or refused."""
from __future__ import annotations

import multiprocessing
import stat

import pydantic
import pytest

from minsheng.local_secrets import GENERATED, read_or_create
from minsheng.settings import load_settings


def test_unset_secrets_are_made_once_private_and_shared_by_every_later_process(tmp_path):
    first = load_settings(secrets_dir=tmp_path, _env_file=None)
    second = load_settings(secrets_dir=tmp_path, _env_file=None)
    values = [getattr(first, name) for name in GENERATED]
    assert values == [getattr(second, name) for name in GENERATED]
    assert len(set(values)) == len(GENERATED)
    for name in GENERATED:
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_a_secret_set_in_the_environment_wins_and_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.setenv("MINSHENG_WEB_SECRET_KEY", "a-real-key-from-the-operator-42")
    settings = load_settings(secrets_dir=tmp_path, _env_file=None)
    assert settings.web_secret_key == "a-real-key-from-the-operator-42"
    assert not (tmp_path / "web_secret_key").exists()


@pytest.mark.parametrize("name", ["web_secret_key", "rasa_token"])
@pytest.mark.parametrize("value", ["minsheng-local-dev-key-please-override",
                                   "minsheng-local-rasa-token", "changeme", "short-secret"])
def test_placeholder_published_or_short_secrets_are_refused(tmp_path, name, value):
    with pytest.raises(pydantic.ValidationError):
        load_settings(secrets_dir=tmp_path, _env_file=None, **{name: value})


def _make(directory: str, queue) -> None:
    from pathlib import Path

    queue.put(read_or_create(Path(directory), "rasa_token"))


def test_processes_starting_together_all_read_the_same_secret(tmp_path):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_make, args=(str(tmp_path), queue)) for _ in range(6)]
    for worker in workers:
        worker.start()
    values = {queue.get(timeout=60) for _ in workers}
    for worker in workers:
        worker.join(30)
    assert len(values) == 1
    assert list(tmp_path.iterdir()) == [tmp_path / "rasa_token"]  # no scratch files left
