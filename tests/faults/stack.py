"""The whole service under the real supervisord, for the fault-injection suite.

The configuration is minsheng/processes.py's (what `make run` uses), on free ports, with a
temp run directory, a temp SQLite database migrated by ``minsheng db upgrade``, one grid and
one staff member with a Telegram id, the gateway polling a local Bot API server (a thread
here) and Rasa serving the cached trained model. ``kill`` sends SIGKILL to one process;
supervisord restarts it.

With ``servers`` (tests/faults/servers.py) the same stack runs scale-out style instead:
cases and Rasa's trackers in a private PostgreSQL, Rasa's lock store and the web's
throttles in a private Redis — servers the suite may restart.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.request
import xmlrpc.client
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from supervisor.xmlrpc import SupervisorTransport

from minsheng import processes
from tests.botapi.server import BotApiServer
from tests.e2e.harness import (
    BIN,
    ROOT,
    ThreadedBotApi,
    base_env,
    free_port,
    rasa_budget,
    seed_district,
    wait_until,
    write_endpoints,
)
from tests.faults.servers import PrivatePostgres, PrivateRedis

STAFF_TG = 5400001
RASA_TOKEN = "faults-rasa-token-7621-0123"


class ForgettingBotApi(BotApiServer):
    """Like Telegram: an update confirmed by a higher ``offset`` is gone for good, so a
    restarted gateway (whose first ``getUpdates`` has no offset) gets only unconfirmed ones."""

    async def _api_getUpdates(self, params: dict) -> list[dict]:
        offset = int(params.get("offset") or 0)
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        return await super()._api_getUpdates(params)


class FaultBotApi(ThreadedBotApi):
    async def _start(self) -> BotApiServer:
        return await ForgettingBotApi().start()


def answers(url: str, check=None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            body = response.read()
            return response.status == 200 and (check is None or check(body))
    except Exception:  # noqa: BLE001 - down is an answer here
        return False


@dataclass
class Stack:
    run_dir: Path
    env: dict[str, str]
    db_path: Path
    trackers_path: Path
    conf: Path
    bot_api: FaultBotApi
    ports: processes.Ports
    supervisor: subprocess.Popen
    programs: dict[str, processes.Program] = field(default_factory=dict)
    postgres: PrivatePostgres | None = None
    redis: PrivateRedis | None = None

    # -- processes -------------------------------------------------------------------
    def pid(self, name: str) -> int:
        """The process's pid from supervisord (0 while it is not running)."""
        transport = SupervisorTransport(None, None, f"unix://{self.run_dir / 'supervisor.sock'}")
        proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
        try:
            info = proxy.supervisor.getProcessInfo(name)
        except (OSError, xmlrpc.client.Error):
            return 0
        return int(info["pid"] or 0)

    def kill(self, name: str) -> int:
        """SIGKILL to the process (its children too, as a crash of the host would)."""
        pid = self.pid(name)
        assert pid > 0, f"{name} is not running"
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return pid

    def ready(self, name: str, since: float = 0.0) -> bool:
        if name == "rasa":
            url = f"http://127.0.0.1:{self.ports.rasa}/status?token={RASA_TOKEN}"
            return answers(url, lambda body: bool(json.loads(body).get("model_file")))
        if name == "gateway":  # started again: its getMe reached the Bot API server
            return any(c.method == "getMe" and c.at > since for c in self.bot_api.calls())
        url = self.programs[name].ready_url
        return url is None or answers(url)

    def wait_back(self, name: str, old_pid: int, timeout: float) -> float:
        """Seconds until ``name`` runs under a new pid and answers; measured from now."""
        started = time.monotonic()

        def back() -> bool:
            pid = self.pid(name)
            return pid not in (0, old_pid) and self.ready(name, started)

        wait_until(back, timeout, f"{name} restarted", interval=0.25)
        return time.monotonic() - started

    def wait_all_ready(self, timeout: float) -> None:
        for name in self.programs:
            wait_until(lambda n=name: self.pid(n) > 0 and self.ready(n), timeout,
                       f"{name} ready", interval=0.5)

    # -- the databases ---------------------------------------------------------------
    def query(self, sql: str, *params) -> list[tuple]:
        if self.postgres is not None:
            return pg_query(self.postgres.url("minsheng"), sql, params)
        conn = sqlite3.connect(self.db_path, timeout=120)
        try:
            rows = conn.execute(sql, params).fetchall()
            conn.commit()
            return rows
        finally:
            conn.close()

    def tracker_query(self, sql: str, *params) -> list[tuple]:
        if self.postgres is not None:
            return pg_query(self.postgres.url("rasa"), sql, params)
        conn = sqlite3.connect(self.trackers_path, timeout=120)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def hold_write_lock(self, seconds: float) -> threading.Thread:
        """A second connection holding ``BEGIN EXCLUSIVE`` on the case database."""
        taken = threading.Event()

        def hold() -> None:
            conn = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)
            try:
                conn.execute("BEGIN EXCLUSIVE")
                taken.set()
                time.sleep(seconds)
                conn.execute("COMMIT")
            finally:
                conn.close()

        thread = threading.Thread(target=hold, name="sqlite-lock", daemon=True)
        thread.start()
        assert taken.wait(60), "could not take the write lock"
        return thread

    def logs(self, lines: int = 40) -> str:
        out = []
        for name in self.programs:
            path = self.run_dir / "log" / f"{name}.log"
            text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
            out += [f"[{name}] {line}" for line in text.splitlines()[-lines:]]
        return "\n".join(out)


JSON_PATH = re.compile(r"json_extract\((\w+), '\$\.([\w.]+)'\)")


def pg_query(url: str, sql: str, params: tuple) -> list[tuple]:
    """The suite's SQLite queries on PostgreSQL: ``json_extract(c, '$.a.b')`` becomes
    ``c::json #>> '{a,b}'`` (text, so numbers are passed as text), ``?`` becomes ``%s``."""
    import psycopg2

    sql = JSON_PATH.sub(lambda m: f"({m[1]}::json #>> '{{{m[2].replace('.', ',')}}}')", sql)
    sql = sql.replace("?", "%s")
    conn = psycopg2.connect(url, connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, [str(p) if isinstance(p, int) else p for p in params])
            rows = cur.fetchall() if cur.description else []
        conn.commit()
        return rows
    finally:
        conn.close()


def start_stack(run_dir: Path, model: Path, servers: bool = False) -> Stack:
    db_path = run_dir / "minsheng.db"
    trackers_path = run_dir / "rasa_trackers.db"
    postgres = redis = None
    database_url = f"sqlite:///{db_path}"
    extra = {}
    if servers:
        postgres = PrivatePostgres().init("minsheng", "rasa")
        redis = PrivateRedis(run_dir).start()
        database_url = postgres.url("minsheng")
        extra["MINSHENG_SHARED_STATE_URL"] = redis.url(2)
    bot_api = FaultBotApi()
    ports = processes.Ports(actions=free_port(), rasa=free_port(), web=free_port())
    env = base_env(
        MINSHENG_DATABASE_URL=database_url,
        MINSHENG_RASA_URL=f"http://127.0.0.1:{ports.rasa}",
        MINSHENG_RASA_TOKEN=RASA_TOKEN,
        MINSHENG_ACTION_SERVER_URL=f"http://127.0.0.1:{ports.actions}/webhook",
        MINSHENG_PHOTOS_DIR=str(run_dir / "photos"),
        MINSHENG_SECRETS_DIR=str(run_dir / "secrets"),
        TELEGRAM_BOT_TOKEN=bot_api.token,
        MINSHENG_TELEGRAM_BASE_URL=bot_api.base_url,
        **extra,
    )
    seed_district(env, run_dir, STAFF_TG)
    stores = {}
    if servers:  # endpoints.scale-out.yml's stores, on the private servers
        stores = {"tracker_store": {"type": "nlu.tracker_store.CachedSQLTrackerStore",
                                    "dialect": "postgresql",
                                    "url": "127.0.0.1", "port": postgres.port, "db": "rasa",
                                    "username": "postgres"},
                  "lock_store": {"type": "redis", "url": "127.0.0.1", "port": redis.port,
                                 "db": 1}}
    endpoints = write_endpoints(run_dir, ports.actions, **stores)

    progs = [
        dataclasses.replace(p, argv=[str(endpoints) if a == "endpoints.yml" else a
                                     for a in p.argv])
        for p in processes.programs(BIN, RASA_TOKEN, model, ports, gateway=True)
    ]
    conf = processes.write_conf(progs, ROOT, run_dir)
    out = open(run_dir / "supervisord.out", "w")  # noqa: SIM115 - supervisord writes to it
    supervisor = subprocess.Popen([str(BIN / "supervisord"), "-c", str(conf)], cwd=ROOT,
                                  env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    out.close()
    return Stack(run_dir, env, db_path, trackers_path, conf, bot_api, ports, supervisor,
                 {p.name: p for p in progs}, postgres, redis)


def stop_stack(stack: Stack) -> None:
    try:
        if stack.supervisor.poll() is None:
            stack.supervisor.send_signal(signal.SIGTERM)  # stops every child first
            try:
                stack.supervisor.wait(processes.STOP_SECONDS + 30)
            except subprocess.TimeoutExpired:
                os.killpg(stack.supervisor.pid, signal.SIGKILL)
                stack.supervisor.wait(10)
    finally:
        stack.bot_api.close()
        if stack.redis is not None:
            stack.redis.stop()
        if stack.postgres is not None:
            stack.postgres.remove()


@contextmanager
def running_stack(run_dir: Path, model: Path, servers: bool = False) -> Iterator[Stack]:
    """``start_stack`` with every program ready (Rasa its load time and a minute more);
    ``stop_stack`` when the block ends."""
    built = start_stack(run_dir, model, servers)
    try:
        built.wait_all_ready(rasa_budget() + 60)
        yield built
    finally:
        stop_stack(built)
