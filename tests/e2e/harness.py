"""Real processes for the end-to-end tests: Rasa, the action server, the gateway, the CLI.

Every process runs from the repository root with its output in a log file; a failing test
prints the tails of all logs. The local Bot API server (tests/botapi/server.py) runs in a
thread with its own event loop, so the synchronous tests can push updates and read calls.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from minsheng.processes import PROCESS_ENV
from tests.botapi import updates
from tests.botapi.server import BotApiServer, Call

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The e2e processes share these instead of making secrets in the checkout's var/.
E2E_ACTION_TOKEN = "e2e-action-token-7621-0123"
E2E_WEB_SECRET = "e2e-web-secret-key-7621-0123"
CASE_NO = re.compile(r"MS-\d{8}-\d{4,6}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, what: str,
               interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Service:
    """One real process; ``start`` + ``wait_ready``, ``stop``; output in ``log_path``."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path,
                 ready_url: str | None = None,
                 ready_check: Callable[[bytes], bool] | None = None,
                 ready_timeout: float = 60) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.ready_url, self.ready_check = ready_url, ready_check
        self.ready_timeout = ready_timeout
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.ready_after: float | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> Service:
        assert not self.running, f"{self.name} is already running"
        log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 - the child owns it
        log.write(f"\n===== start {' '.join(self.argv)}\n")
        log.flush()
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.started_at = time.monotonic()
        return self

    def wait_ready(self, timeout: float | None = None) -> float:
        """Wait for the ready URL (``ready_timeout`` unless told); the seconds since start."""
        assert self.ready_url is not None
        timeout = self.ready_timeout if timeout is None else timeout

        def ready() -> bool:
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                raise AssertionError(f"{self.name} exited (code {code}) while starting:\n"
                                     + self.tail())
            try:
                with urllib.request.urlopen(self.ready_url, timeout=2) as response:
                    body = response.read()
                return self.ready_check(body) if self.ready_check else True
            except Exception:  # noqa: BLE001 - not up yet
                return False

        try:
            wait_until(ready, timeout, f"{self.name} at {self.ready_url}", interval=0.5)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.tail()}") from None
        self.ready_after = time.monotonic() - self.started_at
        return self.ready_after

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return f"[{self.name}] (no log)"
        return "\n".join(f"[{self.name}] {line}" for line in text.splitlines()[-lines:])


# One community with one grid covering two xiaoqu: every stack's district.
GRIDS_YAML = """\
- {code: "130105", name: 新华区, level: district}
- {code: "130105001", name: 和平街道, level: street, parent_code: "130105"}
- {code: "130105001001", name: 幸福社区, level: community, parent_code: "130105001",
   xiaoqu: [幸福里小区, 和平家园]}
- code: "130105001001001"
  name: 幸福社区第一网格
  level: grid
  parent_code: "130105001001"
  xiaoqu: [幸福里小区, 和平家园]
  buildings: [幸福里小区:1号楼, 幸福里小区:2号楼, 幸福里小区:3号楼, 幸福里小区:4号楼,
              和平家园:1号楼, 和平家园:2号楼]
"""
GRID_CODE = "130105001001001"


def seed_district(env: dict[str, str], run_dir: Path, staff_telegram_id: int | None = None
                  ) -> None:
    """The database migrated, the district's grids imported and one grid worker (王网格员,
    staff id 1, with a Telegram id when given) added, by the admin CLI."""
    seed_grids(env, run_dir, GRIDS_YAML)
    add_grid_worker(env, "王芳", "王网格员", GRID_CODE, staff_telegram_id)


def seed_grids(env: dict[str, str], run_dir: Path, grids_yaml: str) -> None:
    """The database migrated and ``grids_yaml`` imported, by the admin CLI."""
    minsheng_cli(env, "db", "upgrade")
    (run_dir / "grids.yaml").write_text(grids_yaml, encoding="utf-8")
    minsheng_cli(env, "grid", "import", str(run_dir / "grids.yaml"))


def add_grid_worker(env: dict[str, str], name: str, public_name: str, grid_code: str,
                    telegram_id: int | None = None) -> None:
    telegram = ["--telegram-id", str(telegram_id)] if telegram_id else []
    minsheng_cli(env, "staff", "add", "--name", name, "--public-name", public_name,
                 "--role", "grid_worker", "--grid", grid_code, *telegram,
                 "--phone", "0311-86010001")


def write_endpoints(run_dir: Path, actions_port: int, **stores: dict) -> Path:
    """The shipped endpoints.yml (with its action-token header) on this stack's action
    server port, its tracker store in ``run_dir``; ``stores`` replace whole entries
    (e.g. ``tracker_store``, ``lock_store`` on scale-out servers)."""
    shipped = yaml.safe_load((ROOT / "endpoints.yml").read_text(encoding="utf-8"))
    shipped["action_endpoint"]["url"] = f"http://127.0.0.1:{actions_port}/webhook"
    shipped["tracker_store"]["db"] = str(run_dir / "rasa_trackers.db")
    shipped.update(stores)
    path = run_dir / "endpoints.yml"
    path.write_text(yaml.safe_dump(shipped), encoding="utf-8")
    return path


def create_database(name: str) -> str:
    """A new database on the shared PostgreSQL server (tests/conftest.PG_ADMIN_URL); its URL."""
    import psycopg2

    from tests.conftest import PG_ADMIN_URL

    conn = psycopg2.connect(PG_ADMIN_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_database(name: str) -> None:
    import psycopg2

    from tests.conftest import PG_ADMIN_URL

    conn = psycopg2.connect(PG_ADMIN_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def minsheng_cli(env: dict[str, str], *args: str, check: bool = True) -> str:
    """``minsheng …`` as a subprocess on the test's database; returns stdout."""
    result = subprocess.run([str(BIN / "minsheng"), *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"minsheng {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result.stdout


def report_json(env: dict[str, str]) -> dict:
    out = minsheng_cli(env, "report", "--json")
    return json.loads(out[out.index("{"):])


def base_env(**values: str) -> dict[str, str]:
    """The environment of every child: ours, minus MINSHENG_* / Telegram from outside."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MINSHENG_") and k not in ("TELEGRAM_BOT_TOKEN", "CI")}
    env.update(PROCESS_ENV, PYTHONPATH=str(ROOT), MINSHENG_ACTION_TOKEN=E2E_ACTION_TOKEN,
               MINSHENG_WEB_SECRET_KEY=E2E_WEB_SECRET)
    env.update(values)
    return env


def stack_env(run_dir: Path, rasa_port: int, rasa_token: str, **values: str) -> dict[str, str]:
    """``base_env`` for a stack in ``run_dir``: its SQLite database, photos and secrets
    there, Rasa on ``rasa_port``; ``values`` add to or replace these."""
    return base_env(**{"MINSHENG_DATABASE_URL": f"sqlite:///{run_dir / 'minsheng.db'}",
                       "MINSHENG_RASA_URL": f"http://127.0.0.1:{rasa_port}",
                       "MINSHENG_RASA_TOKEN": rasa_token,
                       "MINSHENG_PHOTOS_DIR": str(run_dir / "photos"),
                       "MINSHENG_SECRETS_DIR": str(run_dir / "secrets"), **values})


def action_server(env: dict[str, str], port: int, log_dir: Path) -> Service:
    return Service("actions", [str(BIN / "python"), "-m", "actions.server", "-p", str(port)],
                   env, log_dir,
                   ready_url=f"http://127.0.0.1:{port}/health")


def rasa_server(env: dict[str, str], port: int, token: str, model: Path, endpoints: Path,
                log_dir: Path) -> Service:
    def model_loaded(body: bytes) -> bool:
        return bool(json.loads(body).get("model_file"))

    # `rasa run` through nlu/rasa_run.py (same arguments): a model swap does not stop it.
    return Service("rasa", [str(BIN / "python"), "-m", "nlu.rasa_run", "--enable-api",
                            "--auth-token", token,
                            "-i", "127.0.0.1", "-p", str(port), "-m", str(model),
                            "--endpoints", str(endpoints), "--credentials",
                            str(ROOT / "credentials.yml")], env, log_dir,
                   ready_url=f"http://127.0.0.1:{port}/status?token={token}",
                   ready_check=model_loaded, ready_timeout=rasa_budget())


def web_server(env: dict[str, str], port: int, log_dir: Path) -> Service:
    return Service("web", [str(BIN / "uvicorn"), "web.app:create_app", "--factory",
                           "--ws", "none", "--port", str(port)], env, log_dir,
                   ready_url=f"http://127.0.0.1:{port}/login")


def rasa_with_actions(env: dict[str, str], run_dir: Path, model: Path, rasa_port: int,
                      actions_port: int) -> list[Service]:
    """The action server and Rasa serving ``model`` (token from ``env``), with the shipped
    endpoints on this action server port (``write_endpoints``)."""
    endpoints = write_endpoints(run_dir, actions_port)
    return [action_server(env, actions_port, run_dir),
            rasa_server(env, rasa_port, env["MINSHENG_RASA_TOKEN"], model, endpoints, run_dir)]


@contextmanager
def serving(services: list[Service]) -> Iterator[list[Service]]:
    """Every service started at once, then waited for (each its ``ready_timeout``); all
    stopped, last first, when the block ends — also when starting failed."""
    try:
        for service in services:
            service.start()
        for service in services:
            service.wait_ready()
        yield services
    finally:
        for service in reversed(services):
            service.stop()


def rasa_budget() -> float:
    """Seconds Rasa may take to load a model (20–40 s here; more under load)."""
    return float(os.environ.get("MINSHENG_E2E_RASA_TIMEOUT", "180"))


def rest_turn(rasa_url: str, sender: str, text: str, metadata: dict | None = None,
              timeout: float = 60) -> list[dict]:
    """One turn over Rasa's REST channel."""
    body = json.dumps({"sender": sender, "message": text,
                       "metadata": metadata or {}}).encode()
    request = urllib.request.Request(f"{rasa_url}/webhooks/rest/webhook", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


class WebChatResident:
    """A resident's page on the web chat: sends, presses offered buttons, polls for news;
    every text it was shown is kept in ``seen``."""

    def __init__(self, base: str, timeout: float = 60) -> None:
        self.http = httpx.Client(base_url=base, timeout=timeout)
        self.http.get("/chat").raise_for_status()
        self.last = 0
        self.seen: list[str] = []

    def _took(self, messages: list[dict]) -> list[dict]:
        self.last = max([self.last, *(m["id"] for m in messages)])
        self.seen += [m["text"] for m in messages]
        return messages

    def send(self, body: dict) -> list[dict]:
        response = self.http.post("/chat/send", json=body,
                                  headers={"X-CSRFToken": self.http.cookies["csrftoken"]})
        assert response.status_code == 200, response.text
        return self._took(response.json()["messages"])

    def say(self, text: str) -> list[dict]:
        return self.send({"text": text})

    def press(self, messages: list[dict], title: str) -> list[dict]:
        [button] = [b for m in messages for b in m["buttons"] if b["title"] == title]
        return self.send({"payload": button["payload"]})

    def news(self) -> list[dict]:
        """What arrived since the last look (nothing while the web process is down)."""
        response = self.http.get("/chat/messages", params={"after": self.last})
        return self._took(response.json()["messages"]) if response.status_code == 200 else []


def button_titles(messages: list[dict]) -> list[str]:
    return [b["title"] for m in messages for b in m["buttons"]]


class ThreadedBotApi:
    """tests/botapi/server.py in a thread of its own, with synchronous helpers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="bot-api",
                                        daemon=True)
        self._thread.start()
        self.server: BotApiServer = self._run(self._start())

    async def _start(self) -> BotApiServer:
        return await BotApiServer().start()

    def _run(self, coroutine, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        try:
            self._run(self.server.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def token(self) -> str:
        return self.server.token

    # -- what a Telegram user does ---------------------------------------------------
    def push(self, update: dict) -> int:
        return self._run(self.server.push(update))

    def send_text(self, user_id: int, text: str) -> int:
        return self.push(updates.message_update(user_id, text))

    def press(self, user_id: int, message: Call, title: str) -> int:
        """Press the inline button titled ``title`` on a message the bot sent."""
        button = next((b for b in message.buttons if b.get("text") == title), None)
        assert button is not None, (f"no button {title!r} on {message.text[:80]!r}: "
                                    f"{[b.get('text') for b in message.buttons]}")
        return self.push(updates.callback_update(user_id, button["callback_data"],
                                                 updates.sent_message(message.result)))

    def reply_to(self, user_id: int, message: Call, text: str) -> int:
        return self.push(updates.reply_update(user_id, text,
                                              updates.sent_message(message.result)))

    # -- what the bot did ------------------------------------------------------------
    def calls(self) -> list[Call]:
        return list(self.server.calls)

    def sent_to(self, chat_id: int,
                methods: tuple[str, ...] = ("sendMessage", "sendPhoto")) -> list[Call]:
        return [c for c in self.calls() if not c.failed
                and c.method in methods and c.chat_id == chat_id]

    def wait_sent(self, chat_id: int, after: int, timeout: float,
                  match: Callable[[Call], bool] = lambda call: True,
                  what: str = "a message",
                  methods: tuple[str, ...] = ("sendMessage", "sendPhoto")) -> Call:
        """The first message to ``chat_id`` past index ``after`` that ``match``es."""
        def found() -> Call | None:
            return next((c for c in self.sent_to(chat_id, methods)[after:] if match(c)), None)

        try:
            return wait_until(found, timeout, f"{what} to chat {chat_id}")
        except AssertionError as error:
            seen = [c.text[:100] for c in self.sent_to(chat_id)]
            raise AssertionError(f"{error}; the bot sent it: {seen}") from None

    def wait_quiet(self, chat_id: int, quiet: float = 1.5, timeout: float = 60) -> list[Call]:
        """Wait until nothing new went to ``chat_id`` for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        count, since = len(self.sent_to(chat_id)), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.2)
            now = len(self.sent_to(chat_id))
            if now != count:
                count, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        return self.sent_to(chat_id)


def print_logs_if_failed(request, logs) -> None:
    """After a test (in a fixture, after its ``yield``): every process's log tail, ``logs()``,
    printed under the test when it failed (``rep_call`` is set by tests/conftest.py)."""
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print("\n===== process logs =====\n" + logs())
