"""A promoted model reaches every Rasa replica, and a swap under load drops no turn.

Real processes on the shipped endpoints.scale-out.yml: the web app (the model server),
the action server and two Rasa replicas sharing PostgreSQL trackers and the Redis lock
store, each pulling the current model from the web app. Two trained models: the NLU
suite's session model (A) and a second one (B, tests/e2e/second_model.py).

1. The replicas start with ``-m B`` while the registry's current model is A: both serve A
   (a model server overrides -m, so a replica started later comes up on the current model).
2. Clients send turns without pause, alternating between the replicas, while
   a. B is promoted in the registry only: each replica pulls it within its interval;
   b. A is promoted and pushed to each replica in turn (what the NLU page and
      ``minsheng nlu promote`` do); ``minsheng nlu replicas`` then lists both on A.
3. Every turn got HTTP 200 and a non-empty answer; /status reports the promoted model.

The swap durations and the turns delayed during each swap are printed (run with -s).
"""
from __future__ import annotations

import json
import shutil
import statistics
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from nlu import registry
from nlu.serving import publish_model
from tests.conftest import REDIS_ADDR, require_service
from tests.e2e.harness import (
    ROOT,
    Service,
    action_server,
    base_env,
    create_database,
    drop_database,
    free_port,
    minsheng_cli,
    print_logs_if_failed,
    rasa_budget,
    rasa_server,
    wait_until,
)
from tests.e2e.second_model import second_model_path

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

RASA_TOKEN = "e2e-model-swap-rasa-token"
# Versioned names as `minsheng nlu train` makes them; links to the two cached archives.
MODEL_A, MODEL_B = "minsheng-20260101-000001.tar.gz", "minsheng-20260101-000002.tar.gz"
CLIENTS = 4
TEXTS = ("你好", "谢谢", "怎么用", "再见")
TURN_TIMEOUT = 60.0  # the harness's REST turn timeout; a turn waiting longer has failed
SETTLE = 4.0  # seconds of load before and after each swap


@dataclass
class Turn:
    replica: int
    started: float
    seconds: float
    status: int | None
    answered: bool
    error: str | None = None

    @property
    def ended(self) -> float:
        return self.started + self.seconds

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.answered


class Load:
    """``CLIENTS`` residents sending turns without pause, each alternating replicas."""

    def __init__(self, rasa_urls: list[str]) -> None:
        self.rasa_urls = rasa_urls
        self.turns: list[Turn] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client, args=(i,), daemon=True)
                         for i in range(CLIENTS)]

    def _client(self, index: int) -> None:
        sender = f"swap-{uuid.uuid4().hex[:8]}-{index}"
        with httpx.Client(timeout=TURN_TIMEOUT) as http:
            n = 0
            while not self._stop.is_set():
                replica = (index + n) % len(self.rasa_urls)
                started = time.monotonic()
                try:
                    response = http.post(f"{self.rasa_urls[replica]}/webhooks/rest/webhook",
                                         json={"sender": sender, "message": TEXTS[n % 4]})
                    answer = response.json() if response.status_code == 200 else []
                    turn = Turn(replica, started, time.monotonic() - started,
                                response.status_code,
                                any(m.get("text") or m.get("buttons") for m in answer))
                except httpx.HTTPError as error:
                    turn = Turn(replica, started, time.monotonic() - started, None, False,
                                f"{type(error).__name__}: {error}")
                with self._lock:
                    self.turns.append(turn)
                n += 1

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(TURN_TIMEOUT + 5)

    def between(self, start: float, end: float) -> list[Turn]:
        """Turns that were in flight at some point of [start, end]."""
        with self._lock:
            return [t for t in self.turns if t.started <= end and t.ended >= start]


def served(rasa_url: str) -> str | None:
    """The archive name the replica's /status reports (None while it cannot answer)."""
    try:
        response = httpx.get(f"{rasa_url}/status", params={"token": RASA_TOKEN}, timeout=2)
    except httpx.HTTPError:
        return None
    return Path(response.json().get("model_file") or "").name if response.is_success else None


def wait_serving(rasa_urls: list[str], model: str, since: float, timeout: float
                 ) -> list[float]:
    """Seconds from ``since`` until each replica first reported ``model``."""
    reached: dict[int, float] = {}

    def all_there() -> bool:
        for i, url in enumerate(rasa_urls):
            if i not in reached and served(url) == model:
                reached[i] = time.monotonic() - since
        return len(reached) == len(rasa_urls)

    wait_until(all_there, timeout, f"every replica serving {model}", interval=0.3)
    return [reached[i] for i in range(len(rasa_urls))]


class Watch:
    """``wait_serving`` in a thread, while the test pushes."""

    def __init__(self, rasa_urls: list[str], model: str, since: float, timeout: float) -> None:
        self._out: list = []
        self._thread = threading.Thread(target=lambda: self._out.append(
            self._run(rasa_urls, model, since, timeout)), daemon=True)
        self._thread.start()

    @staticmethod
    def _run(*args):
        try:
            return wait_serving(*args)
        except AssertionError as error:
            return error

    def result(self) -> list[float]:
        self._thread.join()
        if isinstance(self._out[0], AssertionError):
            raise self._out[0]
        return self._out[0]


def summary(name: str, turns: list[Turn], baseline: list[Turn], swap: list[float]) -> str:
    slow = max((t.seconds for t in turns), default=0.0)
    base = statistics.median([t.seconds for t in baseline]) if baseline else 0.0
    delayed = sum(1 for t in turns if t.seconds > max(2.0, 4 * base))
    failed = sum(1 for t in turns if not t.ok)
    return (f"{name}: swap {', '.join(f'{s:.1f} s' for s in swap)} (per replica); "
            f"{len(turns)} turns in flight meanwhile, {failed} failed, {delayed} delayed "
            f"(> max(2 s, 4 × median {base * 1000:.0f} ms)), slowest {slow:.1f} s")


@pytest.fixture(scope="module")
def second_model() -> Path:
    from nlu.training import quiet_rasa_logging

    quiet_rasa_logging()
    return second_model_path().resolve()


@pytest.fixture(scope="module")
def swap_stack(tmp_path_factory, served_model, second_model):
    require_service("PostgreSQL", "127.0.0.1", 5432)
    require_service("Redis", *REDIS_ADDR)
    tmp = tmp_path_factory.mktemp("model-swap")
    models = tmp / "models"
    models.mkdir()
    (models / MODEL_A).symlink_to(served_model)
    (models / MODEL_B).symlink_to(second_model)
    registry.promote(models, MODEL_A)
    trackers_db = f"minsheng_e2e_{uuid.uuid4().hex[:10]}_swap"
    web_port, actions_port = free_port(), free_port()
    rasa_urls = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    services: list[Service] = []
    created = False
    try:
        create_database(trackers_db)
        created = True
        env = base_env(
            MINSHENG_DATABASE_URL=f"sqlite:///{tmp / 'minsheng.db'}",
            MINSHENG_SECRETS_DIR=str(tmp / "secrets"), MINSHENG_MODELS_DIR=str(models),
            MINSHENG_RASA_URL=rasa_urls[0], MINSHENG_RASA_TOKEN=RASA_TOKEN,
            MINSHENG_RASA_REPLICA_URLS=json.dumps(rasa_urls),
            # endpoints.scale-out.yml is filled from these by Rasa's ${VAR} substitution
            MINSHENG_ACTION_SERVER_URL=f"http://127.0.0.1:{actions_port}/webhook",
            MINSHENG_PG_HOST="127.0.0.1", MINSHENG_PG_DB=trackers_db,
            MINSHENG_REDIS_HOST=REDIS_ADDR[0],
            MINSHENG_MODEL_SERVER_URL=f"http://127.0.0.1:{web_port}/api/nlu/model/current")
        minsheng_cli(env, "db", "upgrade")
        endpoints = tmp / "endpoints.yml"
        shutil.copy(ROOT / "endpoints.scale-out.yml", endpoints)
        web = Service("web", [str(ROOT / ".venv/bin/uvicorn"), "web.app:create_app",
                              "--factory", "--ws", "none", "--port", str(web_port)], env, tmp,
                      ready_url=f"http://127.0.0.1:{web_port}/login")
        services += [web, action_server(env, actions_port, tmp)]
        for service in services:
            service.start()
        for service in services:
            service.wait_ready(60)
        # The model server is up before the replicas, as the endpoints file asks.
        for i, url in enumerate(rasa_urls):
            log_dir = tmp / f"rasa-{i}"
            log_dir.mkdir()
            replica = rasa_server(env, int(url.rsplit(":", 1)[1]), RASA_TOKEN, second_model,
                                  endpoints, log_dir)
            services.append(replica.start())
        for replica in services[2:]:
            replica.wait_ready(rasa_budget())
        yield {"env": env, "models": models, "rasa_urls": rasa_urls, "services": services}
    finally:
        for service in reversed(services):
            service.stop()
        if created:
            drop_database(trackers_db)


@pytest.fixture
def logs_on_failure(swap_stack, request):
    yield
    print_logs_if_failed(request, lambda: "\n".join(s.tail(80) for s in swap_stack["services"]))


def test_replicas_start_on_the_current_model_whatever_their_m_says(swap_stack,
                                                                     logs_on_failure):
    assert [served(url) for url in swap_stack["rasa_urls"]] == [MODEL_A, MODEL_A]


def test_a_model_swap_under_load_drops_no_turn(swap_stack, logs_on_failure):
    urls, models, env = swap_stack["rasa_urls"], swap_stack["models"], swap_stack["env"]
    budget = 10 + rasa_budget()  # one pull interval, then the load
    with Load(urls) as load:
        time.sleep(SETTLE)
        pull_start = time.monotonic()
        registry.promote(models, MODEL_B)  # the registry only: the replicas pull it
        pull_swap = wait_serving(urls, MODEL_B, pull_start, budget)
        pull_end = time.monotonic()
        time.sleep(SETTLE)

        push_start = time.monotonic()
        registry.promote(models, MODEL_A)  # what the NLU page and `minsheng nlu promote` do
        watcher = Watch(urls, MODEL_A, push_start, budget)
        pushed = publish_model(urls, RASA_TOKEN, models / MODEL_A)  # each replica in turn
        push_swap = watcher.result()
        push_end = time.monotonic()
        time.sleep(SETTLE)

    before = load.between(0, pull_start - 0.001)
    report = [summary("pull (registry promote, 10 s interval)",
                      load.between(pull_start, pull_end), before, pull_swap),
              summary("push (promote: PUT to one replica after the other)",
                      load.between(push_start, push_end), before, push_swap),
              f"all: {len(load.turns)} turns, {sum(not t.ok for t in load.turns)} failed"]
    print("\n" + "\n".join(report))
    failed = [t for t in load.turns if not t.ok]
    assert not failed, f"{len(failed)} turns failed, e.g. {failed[:3]}\n" + "\n".join(report)
    # Turns really were in flight while each replica loaded (else nothing was tested).
    assert len(load.between(pull_start, pull_end)) >= CLIENTS
    assert len(load.between(push_start, push_end)) >= CLIENTS
    assert all(f"{url} 正在使用 {MODEL_A}" in pushed for url in urls), pushed
    assert [served(url) for url in urls] == [MODEL_A, MODEL_A]
    listed = minsheng_cli(env, "nlu", "replicas")  # what the operator asks afterwards
    assert all(f"{url} 正在使用 {MODEL_A}" in listed for url in urls), listed
