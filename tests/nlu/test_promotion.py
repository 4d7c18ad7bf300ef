"""train_compare_promote and learn with a fake trainer and fake scores (no Rasa training)."""
from pathlib import Path

import pytest

from nlu import learning, registry
from nlu.training import TrainedModel

NLU_YAML = """version: "3.1"
nlu:
- intent: report_clutter
  examples: |
    - 楼道里堆满了纸箱
"""


@pytest.fixture
def fake_training(monkeypatch, tmp_path):
    """Each training writes m<N>.tar.gz; each model's scores come from the `scores` dict."""
    scores: dict[str, float] = {}
    counter = {"n": 0}

    def train_model(models_dir):
        counter["n"] += 1
        Path(models_dir).mkdir(parents=True, exist_ok=True)
        path = Path(models_dir) / f"m{counter['n']}.tar.gz"
        path.write_bytes(b"model")
        return TrainedModel(path, 1.5, "fp")

    def score_model(model_path, eval_sets):
        return {name: {"macro_f1": scores[Path(model_path).name], "accuracy": 0.0, "n": 1}
                for name in eval_sets}

    monkeypatch.setattr(learning, "train_model", train_model)
    monkeypatch.setattr(learning, "score_model", score_model)
    monkeypatch.setattr(learning, "publish_model", lambda urls, token, path: f"loaded {path.name} on {urls}")
    return scores


EVAL_SETS = {"bench": Path("bench.tsv")}


def test_the_first_model_is_promoted_and_the_server_told(tmp_path, fake_training):
    fake_training["m1.tar.gz"] = 0.80
    outcome = learning.train_compare_promote(tmp_path, EVAL_SETS, rasa_urls=["http://x"], rasa_token="t",
                                             log=lambda m: None)
    assert outcome.promoted and outcome.server_note == "loaded m1.tar.gz on ['http://x']"
    assert registry.load_registry(tmp_path).current == "m1.tar.gz"


def test_a_worse_model_is_rejected_and_an_equal_one_promoted(tmp_path, fake_training):
    fake_training.update({"m1.tar.gz": 0.80, "m2.tar.gz": 0.79, "m3.tar.gz": 0.80})
    for _ in range(3):
        learning.train_compare_promote(tmp_path, EVAL_SETS, log=lambda m: None)
    reg = registry.load_registry(tmp_path)
    assert reg.current == "m3.tar.gz" and reg.previous == "m1.tar.gz"
    assert reg.entry("m2.tar.gz")["status"] == "rejected"
    assert reg.entry("m2.tar.gz")["scores"]["bench"]["macro_f1"] == 0.79
    assert "+0.0000" in learning.comparison_table(
        learning.Outcome("m3", 1.0, "m1", {"bench": {"macro_f1": 0.8}}, {"bench": {"macro_f1": 0.8}}, True))


def test_learn_takes_the_examples_back_out_when_the_model_is_rejected(tmp_path, fake_training):
    nlu_dir = tmp_path / "nlu"
    nlu_dir.mkdir()
    (nlu_dir / "clutter.yml").write_text(NLU_YAML, encoding="utf-8")
    models = tmp_path / "models"
    fake_training.update({"m1.tar.gz": 0.80, "m2.tar.gz": 0.70, "m3.tar.gz": 0.85})
    learning.train_compare_promote(models, EVAL_SETS, log=lambda m: None)
    review = tmp_path / "review.tsv"
    review.write_text("id\tlabel\tpredicted\tconfidence\tcorrected\ttext\n"
                      "1\tclutter\tsanitation\t0.3\t\t门口一堆旧沙发\n", encoding="utf-8")
    rejected = learning.learn(review, models, EVAL_SETS, nlu_dir=nlu_dir, log=lambda m: None)
    assert not rejected.promoted
    assert not (nlu_dir / "clutter" / "learned.yml").exists()
    promoted = learning.learn(review, models, EVAL_SETS, nlu_dir=nlu_dir, log=lambda m: None)
    assert promoted.promoted
    assert "门口一堆旧沙发" in (nlu_dir / "clutter" / "learned.yml").read_text(encoding="utf-8")
    assert learning.learn(review, models, EVAL_SETS, nlu_dir=nlu_dir, log=lambda m: None) is None
