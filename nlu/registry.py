"""The model registry: which trained model is current, which came before, and their scores.

Kept in ``<models_dir>/registry.json`` next to the model archives (runtime state, not in git):

    {"current": "minsheng-20261123-101500.tar.gz",
     "previous": "minsheng-20261122-170000.tar.gz",
     "promotions": [... oldest → newest, the last one is current ...],
     "history": [{"model": ..., "trained_at": ..., "train_seconds": ..., "fingerprint": ...,
                  "scores": {"<eval set>": {"macro_f1": ..., "accuracy": ..., "n": ...}},
                  "status": "trained" | "promoted" | "rejected" | "rolled_back"}]}
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

REGISTRY_FILE = "registry.json"


@dataclass
class Registry:
    promotions: list[str] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)

    @property
    def current(self) -> str | None:
        return self.promotions[-1] if self.promotions else None

    @property
    def previous(self) -> str | None:
        return self.promotions[-2] if len(self.promotions) > 1 else None

    def entry(self, model: str) -> dict:
        for row in self.history:
            if row["model"] == model:
                return row
        row = {"model": model, "status": "trained", "scores": {}}
        self.history.append(row)
        return row

    def to_json(self) -> dict:
        data = asdict(self)
        return {"current": self.current, "previous": self.previous, **data}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def load_registry(models_dir: Path) -> Registry:
    path = Path(models_dir) / REGISTRY_FILE
    if not path.exists():
        return Registry()
    data = json.loads(path.read_text(encoding="utf-8"))
    return Registry(promotions=list(data.get("promotions", [])), history=list(data.get("history", [])))


def save_registry(models_dir: Path, registry: Registry) -> None:
    """Write atomically so that a crash never leaves half a registry."""
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=models_dir, prefix=".registry-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(registry.to_json(), handle, ensure_ascii=False, indent=2)
    os.replace(tmp, models_dir / REGISTRY_FILE)


def record_training(
    models_dir: Path, model: str, train_seconds: float, fingerprint: str | None = None
) -> Registry:
    registry = load_registry(models_dir)
    row = registry.entry(model)
    row.update(trained_at=_now(), train_seconds=round(train_seconds, 1), fingerprint=fingerprint)
    save_registry(models_dir, registry)
    return registry


def record_scores(models_dir: Path, model: str, scores: dict[str, dict]) -> Registry:
    registry = load_registry(models_dir)
    registry.entry(model)["scores"].update(scores)
    save_registry(models_dir, registry)
    return registry


def is_not_worse(old_scores: dict[str, dict], new_scores: dict[str, dict]) -> bool:
    """True when, on every evaluation set both were scored on, macro-F1 did not drop."""
    shared = set(old_scores) & set(new_scores)
    return all(new_scores[s]["macro_f1"] >= old_scores[s]["macro_f1"] for s in shared)


def promote(models_dir: Path, model: str) -> Registry:
    registry = load_registry(models_dir)
    if registry.current != model:
        registry.promotions.append(model)
    row = registry.entry(model)
    row.update(status="promoted", promoted_at=_now())
    save_registry(models_dir, registry)
    return registry


def reject(models_dir: Path, model: str) -> Registry:
    registry = load_registry(models_dir)
    registry.entry(model).update(status="rejected", rejected_at=_now())
    save_registry(models_dir, registry)
    return registry


def rollback(models_dir: Path) -> Registry:
    """Make the previous model current again; the rolled-back one stays in the history."""
    registry = load_registry(models_dir)
    if registry.previous is None:
        raise LookupError("no previous model to roll back to")
    dropped = registry.promotions.pop()
    registry.entry(dropped).update(status="rolled_back", rolled_back_at=_now())
    save_registry(models_dir, registry)
    return registry


def current_model_path(models_dir: Path) -> Path | None:
    """The registry's current model; without a registry, the newest archive in models_dir."""
    models_dir = Path(models_dir)
    current = load_registry(models_dir).current
    if current and (models_dir / current).exists():
        return models_dir / current
    archives = sorted(models_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return archives[-1] if archives else None
