"""The NLU page: review queue, relabel, background training job, promote and roll back."""
import time

import pytest

from minsheng import nlu_log
from nlu import registry
from tests.web.conftest import login, post


@pytest.fixture
def queue(db):
    with db.uow() as uow:
        low = nlu_log.record_prediction(uow, "web", "web:x", "楼下<b>烧烤</b>油烟很大", "sanitation", 0.31)
        sure = nlu_log.record_prediction(uow, "web", "web:y", "垃圾三天没人收", "sanitation", 0.97)
        uow.commit()
        return low.id, sure.id


def test_only_admins_see_the_nlu_page(client, queue):
    login(client, "community")
    assert client.get("/nlu").status_code == 403


def test_the_review_queue_lists_low_confidence_messages_escaped(client, queue):
    login(client, "admin")
    page = client.get("/nlu").text
    assert "楼下&lt;b&gt;烧烤&lt;/b&gt;油烟很大" in page
    assert "<b>烧烤</b>" not in page
    assert "垃圾三天没人收" not in page  # confident and uncorrected: not for review


def test_relabelling_records_a_staff_correction(client, queue, db):
    low, _ = queue
    login(client, "admin")
    response = post(client, "/nlu/relabel", {"message_id": low, "label": "dispute"})
    assert response.status_code == 303
    with db.uow() as uow:
        rows = nlu_log.export_review(uow, 0.55, mark_exported=False)
    assert [(r.id, r.corrected) for r in rows] == [(low, "dispute")]


def test_an_unknown_label_is_refused(client, queue, db):
    low, _ = queue
    login(client, "admin")
    response = post(client, "/nlu/relabel", {"message_id": low, "label": "weather"})
    assert "error=" in response.headers["location"]
    with db.uow() as uow:
        assert nlu_log.export_review(uow, 0.55, mark_exported=False)[0].corrected is None


def test_training_without_corrections_finishes_with_nothing_to_learn(client, queue, app):
    login(client, "admin")
    post(client, "/nlu/train")
    deadline = time.monotonic() + 10
    while app.state.training.running and time.monotonic() < deadline:
        time.sleep(0.05)
    job = client.get("/nlu/job").json()
    assert job["stage"] == "nothing" and not job["running"]


def test_rollback_makes_the_previous_model_current(client, settings):
    models = settings.models_dir
    models.mkdir(parents=True)
    for name in ("minsheng-a.tar.gz", "minsheng-b.tar.gz"):
        (models / name).write_bytes(b"x")
        registry.promote(models, name)
    login(client, "admin")
    response = post(client, "/nlu/rollback")
    assert response.status_code == 303
    assert registry.load_registry(models).current == "minsheng-a.tar.gz"
    assert "error" not in response.headers["location"]


def test_a_rollback_says_what_each_replica_serves(client, settings, rasa):
    """Pushed to every listed replica in turn; one is down and says so."""
    from urllib.parse import unquote

    dead = "http://127.0.0.1:9"
    settings.rasa_replica_urls = [rasa.url, dead]
    models = settings.models_dir
    models.mkdir(parents=True)
    for name in ("minsheng-a.tar.gz", "minsheng-b.tar.gz"):
        (models / name).write_bytes(b"x")
        registry.promote(models, name)
    login(client, "admin")
    note = unquote(post(client, "/nlu/rollback").headers["location"])
    assert rasa.model_file == "minsheng-a.tar.gz"
    assert f"{rasa.url} 正在使用 minsheng-a.tar.gz" in note
    assert f"{dead} 连不上" in note and "1 个副本还没有换上 minsheng-a.tar.gz" in note
    replicas = client.get("/nlu").text.split('id="replicas"')[1].split("</ul>")[0]
    assert f"{rasa.url} 正在使用 minsheng-a.tar.gz" in replicas and dead in replicas
    assert "不是当前模型" not in replicas


def test_promote_refuses_a_model_the_registry_does_not_know(client, settings):
    login(client, "admin")
    response = post(client, "/nlu/promote", {"model": "../../etc/passwd"})
    assert "error=" in response.headers["location"]
    assert registry.load_registry(settings.models_dir).current is None


def test_the_review_queue_leaves_out_button_payloads(client, db, queue):
    with db.uow() as uow:
        for text in ("／rate_satisfied", "/affirm", " ／deny"):
            nlu_log.record_prediction(uow, "web", "web:z", text, "out_of_scope", 0.10)
        uow.commit()
    login(client, "admin")
    page = client.get("/nlu").text
    assert "rate_satisfied" not in page and "affirm" not in page and "deny" not in page
    assert "楼下&lt;b&gt;烧烤&lt;/b&gt;油烟很大" in page  # the resident's words stay
    assert "共 1 条" in page


def test_the_page_shows_the_current_models_quality_and_local_times(client, settings):
    models = settings.models_dir
    models.mkdir(parents=True)
    (models / "minsheng-q.tar.gz").write_bytes(b"x")
    registry.record_training(models, "minsheng-q.tar.gz", 42.0)
    registry.record_scores(models, "minsheng-q.tar.gz", {
        "own_messages": {"macro_f1": 0.8123, "accuracy": 0.845, "n": 210}})
    registry.promote(models, "minsheng-q.tar.gz")
    reg = registry.load_registry(models)
    reg.history[0]["trained_at"] = "2026-12-06T16:30:00+00:00"  # 00:30 the next day in 上海
    registry.save_registry(models, reg)
    login(client, "admin")
    page = client.get("/nlu").text
    quality = page.split('id="model-quality"')[1].split("</div>\n</div>")[0]
    assert "本项目评测集（210 条）" in quality and "81.2" in quality and "准确率 84.5%" in quality
    assert "2026-12-07 00:30" in page and "2026-12-06T16:30" not in page
