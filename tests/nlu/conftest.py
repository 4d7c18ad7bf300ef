"""One training for the whole test session, reused while data, config and NLU code are unchanged.

A current model in models/ trained from the same fingerprint is used as it is; otherwise the
model is cached under tests/artefacts/nlu-models/<fingerprint>.tar.gz (git-ignored), so a
second run — or CI with that directory cached — trains nothing.
"""
import shutil
from pathlib import Path

import pytest

CACHE = Path(__file__).resolve().parents[1] / "artefacts" / "nlu-models"


def _promoted_model_with(fingerprint: str) -> Path | None:
    """The current model in models/ when it was trained from exactly this data and config."""
    from minsheng.settings import load_settings
    from nlu import registry

    models_dir = Path(load_settings().models_dir)
    current = registry.current_model_path(models_dir)
    if current is None:
        return None
    entry = registry.load_registry(models_dir).entry(current.name)
    return current if entry.get("fingerprint") == fingerprint else None


@pytest.fixture(scope="session")
def trained_model_path(tmp_path_factory) -> Path:
    from nlu.training import quiet_rasa_logging, train_model, training_fingerprint

    quiet_rasa_logging()
    fingerprint = training_fingerprint()
    cached = CACHE / f"{fingerprint}.tar.gz"
    promoted = _promoted_model_with(fingerprint)
    if promoted is not None:
        return promoted
    if not cached.exists():
        trained = train_model(tmp_path_factory.mktemp("models"), name=f"minsheng-test-{fingerprint}")
        CACHE.mkdir(parents=True, exist_ok=True)
        for stale in CACHE.glob("*.tar.gz"):
            stale.unlink()
        shutil.copy(trained.path, cached)
    return cached


@pytest.fixture(scope="session")
def parser(trained_model_path):
    from nlu.training import Parser

    loaded = Parser(trained_model_path)
    yield loaded
    loaded.close()
