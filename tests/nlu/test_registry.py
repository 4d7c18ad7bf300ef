"""Model registry: promotion gate, promotion, rejection and rollback (fake scores, no training)."""
import json

import pytest

from nlu import registry


def scores(**macro):
    return {name: {"macro_f1": value, "accuracy": value, "n": 10} for name, value in macro.items()}


def test_a_model_that_is_not_worse_on_any_set_may_be_promoted():
    assert registry.is_not_worse(scores(bench=0.90, own=0.95), scores(bench=0.90, own=0.96))


def test_a_drop_on_one_set_blocks_promotion():
    assert not registry.is_not_worse(scores(bench=0.90, own=0.95), scores(bench=0.93, own=0.94))


def test_sets_scored_for_only_one_model_are_not_compared():
    assert registry.is_not_worse(scores(bench=0.90), scores(bench=0.91, new_set=0.1))


def test_promotion_keeps_current_and_previous(tmp_path):
    for name in ("m1.tar.gz", "m2.tar.gz"):
        (tmp_path / name).write_bytes(b"x")
        registry.record_training(tmp_path, name, 12.3, "abc")
        registry.promote(tmp_path, name)
    data = json.loads((tmp_path / "registry.json").read_text())
    assert data["current"] == "m2.tar.gz"
    assert data["previous"] == "m1.tar.gz"
    assert registry.current_model_path(tmp_path) == tmp_path / "m2.tar.gz"


def test_rejected_models_never_become_current(tmp_path):
    registry.promote(tmp_path, "m1.tar.gz")
    registry.record_scores(tmp_path, "m2.tar.gz", scores(bench=0.5))
    registry.reject(tmp_path, "m2.tar.gz")
    reg = registry.load_registry(tmp_path)
    assert reg.current == "m1.tar.gz"
    assert reg.entry("m2.tar.gz")["status"] == "rejected"
    assert reg.entry("m2.tar.gz")["scores"]["bench"]["macro_f1"] == 0.5


def test_rollback_returns_to_the_previous_model_and_can_go_back_further(tmp_path):
    for name in ("m1", "m2", "m3"):
        registry.promote(tmp_path, name)
    assert registry.rollback(tmp_path).current == "m2"
    reg = registry.rollback(tmp_path)
    assert reg.current == "m1"
    assert reg.entry("m3")["status"] == "rolled_back"
    with pytest.raises(LookupError):
        registry.rollback(tmp_path)


def test_without_a_registry_the_newest_archive_is_current(tmp_path):
    import os

    (tmp_path / "old.tar.gz").write_bytes(b"x")
    (tmp_path / "new.tar.gz").write_bytes(b"x")
    os.utime(tmp_path / "old.tar.gz", (1, 1))
    assert registry.current_model_path(tmp_path) == tmp_path / "new.tar.gz"
    assert registry.current_model_path(tmp_path / "missing") is None
