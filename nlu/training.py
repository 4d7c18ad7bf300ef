"""Training versioned models and loading them for in-process parsing."""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG = REPO_ROOT / "config.yml"
DOMAIN = REPO_ROOT / "domain.yml"
DATA = REPO_ROOT / "data"
NLU_DICT = REPO_ROOT / "nlu" / "dict"
MODEL_PREFIX = "minsheng-"


@dataclass(frozen=True)
class TrainedModel:
    path: Path
    seconds: float
    fingerprint: str

    @property
    def name(self) -> str:
        return self.path.name


def training_fingerprint(
    config: Path = CONFIG, domain: Path = DOMAIN, data: Path = DATA
) -> str:
    """A hash of everything a model is trained from (config, domain, data, our NLU code)."""
    digest = hashlib.sha256()
    files = [config, domain]
    files += sorted(p for p in Path(data).rglob("*") if p.suffix in (".yml", ".yaml"))
    files += sorted(NLU_DICT.glob("*")) + [REPO_ROOT / "nlu" / "entities.py",
                                            REPO_ROOT / "nlu" / "components.py"]
    for path in files:
        if path.exists():
            digest.update(str(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT)
                              else path.name).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def new_model_name(now: datetime | None = None) -> str:
    """minsheng-YYYYMMDD-HHMMSS (a versioned file name that sorts by time)."""
    return MODEL_PREFIX + (now or datetime.now()).strftime("%Y%m%d-%H%M%S")


def train_model(
    models_dir: Path,
    *,
    config: Path = CONFIG,
    domain: Path = DOMAIN,
    data: Path = DATA,
    name: str | None = None,
) -> TrainedModel:
    """Full training (NLU and, when stories exist, dialogue) into a new versioned archive."""
    from rasa.model_training import train

    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    name = name or new_model_name()
    started = time.perf_counter()
    result = train(
        domain=str(domain),
        config=str(config),
        training_files=[str(data)],
        output=str(models_dir),
        fixed_model_name=name,
        force_training=True,
    )
    seconds = time.perf_counter() - started
    if result.code != 0 or not result.model:
        raise RuntimeError(f"training failed with code {result.code}")
    return TrainedModel(Path(result.model), seconds, training_fingerprint(config, domain, data))


def train_nlu_only(config: Path, nlu_data: Path, output: Path, name: str) -> Path:
    """NLU-only training, for cross-validation folds."""
    from rasa.model_training import train_nlu

    path = train_nlu(
        config=str(config), nlu_data=str(nlu_data), output=str(output), fixed_model_name=name
    )
    if not path:
        raise RuntimeError("NLU training failed")
    return Path(path)


class Parser:
    """A loaded model that parses text in-process (synchronous wrapper around Rasa's Agent)."""

    def __init__(self, model_path: Path):
        from rasa.core.agent import Agent

        self.model_path = Path(model_path)
        self._loop = asyncio.new_event_loop()
        started = time.perf_counter()
        self._agent = Agent.load(str(model_path))
        self.load_seconds = time.perf_counter() - started

    def parse(self, text: str) -> dict:
        return self._loop.run_until_complete(self._agent.parse_message(text))

    @property
    def processor(self):
        """The loaded model's Rasa message processor (rasa.core.processor)."""
        return self._agent.processor

    def close(self) -> None:
        self._loop.close()


def quiet_rasa_logging(level: int = logging.WARNING) -> None:
    """Rasa logs every parse at debug level; keep the CLI and benchmarks quiet."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    configure_logging_and_warnings(level)
    configure_structlog(level)
    logging.getLogger("jieba").setLevel(level)
