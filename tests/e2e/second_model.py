"""A second trained model for the model-swap test: the same data, one config value apart.

The NLU suite's session model (tests/nlu/conftest.py) is the first; this one is trained once
from a copy of config.yml with a lower fallback threshold (and fewer TED epochs when TED is
in the policies, which makes its training shorter) and cached by its training fingerprint
under tests/artefacts/nlu-models/second/ — a folder of its own, so the first model's cache
(which keeps one fingerprint and deletes the others) leaves it alone.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import yaml

from nlu.training import CONFIG, train_model, training_fingerprint
from tests.nlu.conftest import CACHE

SECOND_CACHE = CACHE / "second"
CONFIG_NAME = "config-second.yml"  # its name is part of the fingerprint: keep it fixed


def second_config(text: str) -> str:
    """config.yml with the fallback threshold 0.01 lower and TED (if any) at a third of its
    epochs: a different model that still answers every greeting."""
    config = yaml.safe_load(text)
    for part in [*config.get("pipeline", []), *config.get("policies", [])]:
        if part["name"] == "FallbackClassifier":
            part["threshold"] = round(float(part.get("threshold", 0.3)) - 0.01, 2)
        if part["name"] == "TEDPolicy":
            part["epochs"] = max(1, int(part.get("epochs", 1)) // 3)
    return yaml.safe_dump(config, allow_unicode=True, sort_keys=False)


def second_model_path() -> Path:
    """The cached second model, trained first when its fingerprint is new (a few minutes)."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / CONFIG_NAME
        config.write_text(second_config(CONFIG.read_text(encoding="utf-8")), encoding="utf-8")
        fingerprint = training_fingerprint(config)
        cached = SECOND_CACHE / f"second-{fingerprint}.tar.gz"
        if cached.exists():
            return cached
        trained = train_model(Path(tmp) / "models", config=config,
                              name=f"minsheng-second-{fingerprint}")
        SECOND_CACHE.mkdir(parents=True, exist_ok=True)
        for stale in SECOND_CACHE.glob("*.tar.gz"):
            stale.unlink()
        shutil.copy(trained.path, cached)
        return cached


if __name__ == "__main__":  # train it ahead of the test: python -m tests.e2e.second_model
    from nlu.training import quiet_rasa_logging

    quiet_rasa_logging()
    print(second_model_path())
