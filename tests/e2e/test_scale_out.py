"""Scale-out configuration with real processes: Rasa on a copy of endpoints.scale-out.yml
(trackers in PostgreSQL, Redis lock store) and the action server writing cases to
PostgreSQL. Fresh databases are created on the shared server and dropped afterwards.
Under CI=true an unreachable PostgreSQL or Redis fails these tests instead of skipping."""
from __future__ import annotations

import threading
import uuid

import pytest
import yaml

from tests.conftest import PG_ADMIN_URL, REDIS_ADDR, require_service
from tests.e2e.harness import (
    CASE_NO,
    ROOT,
    action_server,
    base_env,
    create_database,
    drop_database,
    free_port,
    print_logs_if_failed,
    rasa_budget,
    rasa_server,
    rest_turn,
    seed_district,
    wait_until,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

RASA_TOKEN = "e2e-scale-out-token"
LOCK_DB = 1  # endpoints.scale-out.yml: lock_store.db


class RedisMonitor:
    """Every command Redis executes on ``LOCK_DB`` while it runs (Redis MONITOR)."""

    def __init__(self) -> None:
        import redis

        self._client = redis.Redis(*REDIS_ADDR, db=LOCK_DB)
        self.commands: list[str] = []
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self._client.monitor() as monitor:
            self._ready.set()
            for item in monitor.listen():
                if item.get("db") == LOCK_DB:
                    self.commands.append(item["command"])
                if self._stop.is_set():
                    return

    def __enter__(self):
        self._thread.start()
        assert self._ready.wait(10), "Redis MONITOR did not start"
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._client.ping()  # one more command wakes the monitor loop
        self._thread.join(5)


def _pg_rows(url: str, sql: str, *params) -> list[tuple]:
    import psycopg2

    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def scale_out(tmp_path_factory, served_model):
    require_service("PostgreSQL", "127.0.0.1", 5432)
    require_service("Redis", *REDIS_ADDR)
    tmp = tmp_path_factory.mktemp("scale-out")
    suffix = uuid.uuid4().hex[:10]
    trackers_db, cases_db = f"minsheng_e2e_{suffix}_rasa", f"minsheng_e2e_{suffix}_cases"
    actions_port, rasa_port = free_port(), free_port()
    services = []
    created: list[str] = []
    try:
        create_database(trackers_db)
        created.append(trackers_db)
        cases_url = create_database(cases_db)
        created.append(cases_db)
        env = base_env(
            MINSHENG_DATABASE_URL=cases_url,
            MINSHENG_RASA_URL=f"http://127.0.0.1:{rasa_port}",
            MINSHENG_RASA_TOKEN=RASA_TOKEN,
            MINSHENG_PHOTOS_DIR=str(tmp / "photos"),
            # endpoints.scale-out.yml is filled from these by Rasa's ${VAR} substitution
            MINSHENG_ACTION_SERVER_URL=f"http://127.0.0.1:{actions_port}/webhook",
            MINSHENG_PG_HOST="127.0.0.1",
            MINSHENG_PG_DB=trackers_db,
            MINSHENG_REDIS_HOST=REDIS_ADDR[0],
        )
        seed_district(env, tmp)
        endpoints = tmp / "endpoints.yml"
        # Rasa serves -m's model here: the shipped model server (`models:`) is exercised,
        # with the web app serving it, by test_model_swap.py.
        shipped = yaml.safe_load((ROOT / "endpoints.scale-out.yml").read_text(encoding="utf-8"))
        shipped.pop("models", None)
        endpoints.write_text(yaml.safe_dump(shipped), encoding="utf-8")
        actions = action_server(env, actions_port, tmp)
        rasa = rasa_server(env, rasa_port, RASA_TOKEN, served_model, endpoints, tmp)
        services += [actions, rasa]
        actions.start()
        rasa.start()
        actions.wait_ready(60)
        rasa.wait_ready(rasa_budget())
        yield {"rasa_url": f"http://127.0.0.1:{rasa_port}", "cases_url": cases_url,
               "trackers_url": PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{trackers_db}",
               "services": services}
    finally:
        for service in reversed(services):
            service.stop()
        for name in created:
            drop_database(name)


@pytest.fixture
def logs_on_failure(scale_out, request):
    yield
    print_logs_if_failed(request, lambda: "\n".join(s.tail(80) for s in scale_out["services"]))


def test_turns_use_postgres_trackers_and_the_redis_lock_store(scale_out, logs_on_failure):
    sender = f"e2e-scale-{uuid.uuid4().hex[:8]}"
    with RedisMonitor() as redis_seen:
        first = rest_turn(scale_out["rasa_url"], sender, "你好")
        second = rest_turn(scale_out["rasa_url"], sender, "你能帮我做什么")
    assert first and second, (first, second)

    rows = _pg_rows(scale_out["trackers_url"],
                    "SELECT type_name FROM events WHERE sender_id = %s ORDER BY id", sender)
    user_turns = [r for r in rows if r[0] == "user"]
    assert len(user_turns) == 2, rows
    lock_commands = [c for c in redis_seen.commands if f"lock:{sender}" in c]
    assert lock_commands, ("no Redis command on this conversation's lock; seen: "
                           f"{redis_seen.commands[:20]}")


def test_a_case_opened_over_rest_lands_in_postgres(scale_out, logs_on_failure):
    sender = f"e2e-scale-{uuid.uuid4().hex[:8]}"
    url = scale_out["rasa_url"]
    replies = rest_turn(url, sender, "幸福里小区3号楼楼道里有人飞线充电，电线就挂在楼梯扶手上")
    # The REST channel has no gateway in front: the buttons' payloads are sent as they are.
    for _ in range(6):
        texts = " ".join(r.get("text") or "" for r in replies)
        if CASE_NO.search(texts):
            break
        payloads = {b["title"]: b["payload"] for r in replies for b in r.get("buttons") or []}
        choice = next((payloads[t] for t in ("确认提交", "跳过", "完成", "安全隐患")
                       if t in payloads), None)
        assert choice is not None, f"unexpected reply: {replies}"
        replies = rest_turn(url, sender, choice)
    found = CASE_NO.search(" ".join(r.get("text") or "" for r in replies))
    assert found, replies

    rows = _pg_rows(scale_out["cases_url"],
                    "SELECT c.state, c.category, c.channel, i.external_id FROM cases c "
                    "JOIN resident_identities i ON i.resident_id = c.resident_id "
                    "WHERE c.case_no = %s", found.group(0))
    assert rows == [("assigned", "safety_hazard", "web", sender)], rows
    # the Rasa replica wrote the typed message (not the button presses) to the NLU log in
    # the case database (nlu/message_log.py), keyed as the case was opened
    logged = wait_until(lambda: _pg_rows(
        scale_out["cases_url"], "SELECT n.sender FROM nlu_messages n JOIN cases c "
        "ON c.idempotency_key = n.sender || ':' || n.message_key WHERE c.case_no = %s",
        found.group(0)), 10, "the NLU log row in PostgreSQL")
    assert logged == [(sender,)], logged
    assert _pg_rows(scale_out["cases_url"], "SELECT count(*) FROM nlu_messages "
                    "WHERE sender = %s", sender) == [(1,)]
