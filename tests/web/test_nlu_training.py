"""Relabel → retrain → compare → promote / roll back, through the NLU page.

The fast test swaps the trainer for a fake one (as tests/nlu/test_promotion.py does);
the browser test trains real Rasa models on a tiny config and data set in a temp dir.
"""
import functools
import time
from pathlib import Path

import pytest

from minsheng import nlu_log
from nlu import learning, registry
from nlu.training import TrainedModel
from tests.web.conftest import PASSWORD, login, post

NLU_YAML = """version: "3.1"
nlu:
- intent: report_clutter
  examples: |
    - 楼道里堆满了纸箱
    - 门口堆了很多杂物
    - 消防通道被自行车堵住
- intent: report_sanitation
  examples: |
    - 垃圾三天没人收
    - 小区里很臭
    - 下水道堵了污水横流
- intent: out_of_scope
  examples: |
    - 今天天气怎么样
    - 你好
    - 讲个笑话
"""
CONFIG = """recipe: default.v1
language: zh
assistant_id: web-test-tiny
pipeline:
  - name: JiebaTokenizer
  - name: CountVectorsFeaturizer
    analyzer: char_wb
    min_ngram: 1
    max_ngram: 2
  - name: LogisticRegressionClassifier
policies: []
"""
DOMAIN = 'version: "3.1"\nintents:\n  - report_clutter\n  - report_sanitation\n  - out_of_scope\n'
EVAL = "id\tcategory\ttext\n1\tclutter\t楼道口堆着旧家具\n2\tsanitation\t垃圾桶满了没人清\n3\tout_of_scope\t明天下雨吗\n"


@pytest.fixture
def tiny(tmp_path, app):
    """A tiny training set, config, domain and evaluation set; the app learns into them."""
    root = tmp_path / "tiny"
    (root / "data" / "nlu").mkdir(parents=True)
    (root / "data" / "nlu" / "base.yml").write_text(NLU_YAML, encoding="utf-8")
    (root / "config.yml").write_text(CONFIG, encoding="utf-8")
    (root / "domain.yml").write_text(DOMAIN, encoding="utf-8")
    (root / "eval.tsv").write_text(EVAL, encoding="utf-8")
    app.state.nlu_dir = root / "data" / "nlu"
    app.state.eval_sets = lambda: {"tiny_eval": root / "eval.tsv"}
    return root


@pytest.fixture
def queued(db):
    with db.uow() as uow:
        message = nlu_log.record_prediction(uow, "web", "web:r1", "门口一堆旧沙发没人管", "sanitation", 0.31)
        uow.commit()
        return message.id


def wait_for_job(app, seconds: float):
    deadline = time.monotonic() + seconds
    while app.state.training is not None and app.state.training.running:
        assert time.monotonic() < deadline, "training did not finish"
        time.sleep(0.1)
    return app.state.training


def test_a_worse_candidate_is_kept_out_until_an_admin_promotes_it(client, app, settings, tiny,
                                                                  queued, monkeypatch):
    scores = {"m1.tar.gz": 0.80, "m2.tar.gz": 0.70}
    count = {"n": 0}

    def fake_train(models_dir):
        count["n"] += 1
        path = Path(models_dir) / f"m{count['n']}.tar.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"model")
        return TrainedModel(path, 2.0, "fp")

    monkeypatch.setattr(learning, "train_model", fake_train)
    monkeypatch.setattr(learning, "score_model", lambda path, sets: {
        name: {"macro_f1": scores[Path(path).name], "accuracy": 0.0, "n": 3} for name in sets})
    learning.train_compare_promote(settings.models_dir, {"tiny_eval": tiny / "eval.tsv"},
                                   log=lambda m: None)
    login(client, "admin")
    post(client, "/nlu/relabel", {"message_id": queued, "label": "clutter"})
    post(client, "/nlu/train")
    job = wait_for_job(app, 20)
    assert job.stage == "done" and job.outcome.promoted is False
    assert registry.load_registry(settings.models_dir).current == "m1.tar.gz"
    assert not (tiny / "data" / "nlu" / "clutter" / "learned.yml").exists()  # taken back out
    page = client.get("/nlu").text
    assert "0.8000" in page and "0.7000" in page and "-0.1000" in page
    assert "仍然启用新模型 m2.tar.gz" in page
    assert "原模型 m1.tar.gz" in page and "新模型 m2.tar.gz（未启用）" in page
    assert "门口一堆旧沙发没人管" not in page  # learned from: no longer in the queue
    post(client, "/nlu/promote", {"model": "m2.tar.gz"})
    assert registry.load_registry(settings.models_dir).current == "m2.tar.gz"
    post(client, "/nlu/rollback")
    assert registry.load_registry(settings.models_dir).current == "m1.tar.gz"


def test_a_second_training_is_refused_while_one_runs(client, app, monkeypatch, tiny, queued):
    import threading

    release = threading.Event()
    monkeypatch.setattr(learning, "learn", lambda *a, **k: release.wait(10) and None)
    login(client, "admin")
    post(client, "/nlu/relabel", {"message_id": queued, "label": "clutter"})
    post(client, "/nlu/train")
    assert client.get("/nlu/job").json()["running"] is True
    assert "error=" in post(client, "/nlu/train").headers["location"]
    assert post(client, "/nlu/rollback").status_code == 409
    release.set()
    wait_for_job(app, 10)


@pytest.mark.slow
@pytest.mark.browser
def test_relabel_retrain_and_promote_in_the_browser_with_real_training(
        browser, app, settings, tiny, queued, monkeypatch):
    from selenium.webdriver.support.ui import Select

    from nlu import training

    real = functools.partial(training.train_model, config=tiny / "config.yml",
                             domain=tiny / "domain.yml", data=tiny / "data")
    monkeypatch.setattr(learning, "train_model", lambda models_dir: real(models_dir))
    first = learning.train_compare_promote(settings.models_dir, app.state.eval_sets(),
                                           log=lambda m: None)
    time.sleep(1.1)  # model names carry the second
    browser.login("admin", PASSWORD)
    browser.open("/nlu")
    row = browser.find(f"#review-{queued}")
    Select(row.find_element("css selector", "select")).select_by_value("clutter")
    row.find_element("css selector", "button").click()
    browser.wait_text(f"#review-{queued}", "已改：乱堆乱放")
    browser.find("#nlu-train").click()
    # A tiny model trains in seconds: the page may already show a later stage.
    browser.wait_any_text("#job-stage", ("排队中", "训练中", "评测对比中", "已完成"), timeout=30)
    browser.screenshot("training")
    browser.wait_text("main", "训练结束", timeout=300)
    browser.screenshot("compared")
    reg = registry.load_registry(settings.models_dir)
    candidate = reg.history[-1]["model"]
    table = browser.find("#comparison").text
    assert candidate != first.model and "tiny_eval" in table
    assert f"原模型 {first.model}" in table and f"新模型 {candidate}" in table
    if reg.current != candidate:  # scored worse: the admin promotes it by hand
        browser.find("#nlu-promote").click()
        browser.wait_text("main", f"已启用 {candidate}")
    assert registry.load_registry(settings.models_dir).current == candidate
    learned = tiny / "data" / "nlu" / "clutter" / "learned.yml"  # the category's own folder
    assert "门口一堆旧沙发没人管" in learned.read_text("utf-8")
    browser.find("#nlu-rollback").click()
    browser.wait_text("#current-model", first.model)
    browser.screenshot("rolled-back")
