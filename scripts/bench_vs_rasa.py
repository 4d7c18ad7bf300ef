"""Our stack against bare Rasa, in one run, with one load client: ``make bench-vs-rasa``.

The anchor is the ``rasa init`` default bot (DIET + TED, in-memory trackers, no action
server), built and trained once into a cache directory (offline: ``rasa init`` ships its
project files). Then, one stack at a time so they do not share the cores:

* bare Rasa over its REST channel, each client a distinct sender cycling through the
  default bot's greetings and moods;
* our stack — Rasa, the action server and the web app on the embedded default (SQLite,
  a temporary directory, the processes of minsheng/processes.py on free ports) — over
  Rasa's REST channel (greetings) and over the web chat: whole report journeys as the page
  makes them (GET /chat for the cookies, POST /chat/send with the CSRF header, pressing
  the offered buttons until 确认提交 gives a case number).

Every point runs N clients sending without pause for a fixed time; a think-time point has
20 residents waiting ~3 s between messages (arriving at random moments of the first
think time, not in one instant). Printed and written to var/bench/: turns/s,
p50/p95/p99, errors, CPU ms per turn (user + system of every process of the stack:
unlike turns/s it hardly moves with the load of other programs), ours ÷ bare Rasa per row, the RSS of every process (start, end, max),
and the seconds from process start to the first answer of each stack.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from minsheng import processes
from nlu.registry import current_model_path
from nlu.split import cut

CASE_NO = re.compile(r"MS-\d{8}-\d{4,6}")
BARE_TEXTS = ["hello", "I am feeling great", "hi there", "I am sad", "yes", "goodbye"]
OUR_GREETINGS = ["你好", "您好", "在吗", "你好呀"]
REPORTS = ["幸福里小区3号楼楼道里堆满了杂物和纸箱", "和平家园2号楼门口的路灯坏了，晚上很黑",
           "幸福里小区5号楼下水道堵了，污水冒到路面上", "和平家园小区门口有辆僵尸车停了半年"]
# The button a resident presses at each question of the report form, in this order.
CHOICES = ("确认提交", "跳过", "完成", "安全隐患")
TOKENS = {"rasa": "bench-rasa-token-4711-abcd", "action": "bench-action-token-4711-abcd",
          "web": "bench-web-secret-key-4711-abcd"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rasa_version() -> str:
    from importlib.metadata import version

    return version("rasa")


def default_cache() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "minsheng" / f"rasa-init-{rasa_version()}"


def default_bot(cache: Path) -> Path:
    """The trained model of the ``rasa init`` bot, built once into ``cache``."""
    models = sorted((cache / "models").glob("*.tar.gz"))
    if models:
        return models[-1]
    print(f"building the rasa init default bot once in {cache} (a few minutes)…", flush=True)
    building = cache.with_name(cache.name + ".tmp")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    subprocess.run([str(BIN / "rasa"), "init", "--no-prompt", "--init-dir", str(building)],
                   check=True, env=child_env({}), stdout=subprocess.DEVNULL)
    if not list((building / "models").glob("*.tar.gz")):
        raise SystemExit(f"rasa init trained no model in {building}")
    shutil.rmtree(cache, ignore_errors=True)
    building.rename(cache)  # only a finished build is ever taken from the cache
    return default_bot(cache)


def child_env(values: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINSHENG_")}
    env.update(processes.PROCESS_ENV, PYTHONPATH=str(ROOT), **values)
    return env


# -- processes and their memory --------------------------------------------------------------
@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    rss_mb: list[float] = field(default_factory=list)

    def sample(self) -> None:
        rss = tree_rss_kb(self.popen.pid)
        if rss:
            self.rss_mb.append(rss / 1024)

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)


def process_tree(pid: int) -> list[int]:
    """A process and its children, from /proc (no psutil needed)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        found.append(current)
        todo += [int(c) for c in children]
    return found


def tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and its children."""
    total = 0
    for current in process_tree(pid):
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
        except (OSError, AttributeError):
            continue
    return total


TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its live children so far.

    CPU time does not depend on what else the machine runs (wall-clock turns/s does: the
    shared development machine moves it by a factor of two), so CPU per turn is the
    yardstick for changes to our stack."""
    total = 0
    for current in process_tree(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / TICKS_PER_S


class Sampler:
    """Samples the RSS of every process once a second in a thread."""

    def __init__(self, procs: list[Proc]) -> None:
        self.procs, self._stop = procs, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            for proc in self.procs:
                proc.sample()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        for proc in self.procs:
            proc.sample()


def spawn(name: str, argv: list[str], env: dict[str, str], cwd: Path, logs: Path) -> Proc:
    log = open(logs / f"{name}.log", "w", encoding="utf-8")  # noqa: SIM115 - the child owns it
    popen = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
    log.close()
    return Proc(name, popen)


def rss_summary(procs: list[Proc]) -> dict:
    out = {}
    for proc in procs:
        if proc.rss_mb:
            first, last, top = proc.rss_mb[0], proc.rss_mb[-1], max(proc.rss_mb)
            mid = proc.rss_mb[len(proc.rss_mb) // 2]
            out[proc.name] = {"start_mb": round(first), "mid_mb": round(mid),
                              "end_mb": round(last), "max_mb": round(top),
                              "growth_pct": round((last - first) / first * 100, 1),
                              # warming up (caches, pools) vs. still growing: the second half
                              "second_half_growth_pct": round((last - mid) / mid * 100, 1),
                              "every_30_s_mb": [round(v) for v in proc.rss_mb[::30]]}
    return out


# -- the load ---------------------------------------------------------------------------------
@dataclass
class Point:
    stack: str
    load: str
    clients: int
    think_s: float
    seconds: float = 0.0
    turns: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list, repr=False)
    # a web chat journey's latencies by step (the report text, then the button pressed), to
    # see which turns make the tail
    by_step: dict[str, list[float]] = field(default_factory=dict, repr=False)
    cpu_s: dict[str, float] = field(default_factory=dict)  # per process, over the point
    client_cpu_s: float = 0.0  # the load client's own, on the same cores (not in cpu_s)

    def row(self) -> dict:
        ordered = sorted(self.latencies)

        def pct(q: float) -> float | None:
            return percentile(ordered, q, is_sorted=True)

        steps = {step: {"turns": len(values), "p50_ms": percentile(values, 0.50),
                        "p95_ms": percentile(values, 0.95)}
                 for step, values in self.by_step.items()}
        return {"stack": self.stack, "load": self.load, "clients": self.clients,
                "think_s": self.think_s, "seconds": round(self.seconds, 1),
                "turns": self.turns, "errors": self.errors,
                "turns_per_s": round(self.turns / self.seconds, 2) if self.seconds else 0,
                "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99),
                "cpu_ms_per_turn": (round(sum(self.cpu_s.values()) * 1000 / self.turns, 1)
                                    if self.turns else None),
                "cpu_ms_per_turn_by_process": {
                    name: round(cpu * 1000 / self.turns, 1) if self.turns else None
                    for name, cpu in self.cpu_s.items()},
                "client_cpu_ms_per_turn": (round(self.client_cpu_s * 1000 / self.turns, 1)
                                           if self.turns else None),
                **({"by_step": steps} if steps else {})}


def percentile(values: list[float], q: float, is_sorted: bool = False) -> float | None:
    """The q-quantile of latencies in seconds, in milliseconds (None for no values)."""
    ordered = values if is_sorted else sorted(values)
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000, 1)


@dataclass
class Reply:
    status: int
    body: Any

    def json(self) -> Any:
        return self.body


def client_session(**kwargs) -> aiohttp.ClientSession:
    """The load client's HTTP session. aiohttp, not httpx: the client runs on the same two
    cores as the stack it loads, and httpx spent about 11 ms of CPU per web chat turn there
    (a quarter of the machine under load), which the bare bot, one process on one core,
    hardly feels and our three processes do. Cookies are kept for an IP address host too
    (``unsafe``), as a browser keeps them for 127.0.0.1."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                 timeout=aiohttp.ClientTimeout(total=60), **kwargs)


async def post(http: aiohttp.ClientSession, url: str, body: dict, **kwargs) -> Reply:
    async with http.post(url, json=body, **kwargs) as response:
        return Reply(response.status, await response.json(content_type=None))


def csrf(http: aiohttp.ClientSession) -> dict[str, str]:
    token = next((c.value for c in http.cookie_jar if c.key == "csrftoken"), "")
    return {"X-CSRFToken": token}


async def timed(point: Point, call, step: str | None = None) -> Reply | None:
    """One turn: its latency when it answered 200, an error otherwise."""
    started = time.monotonic()
    try:
        response = await call()
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
        point.errors += 1
        return None
    if response.status != 200:
        point.errors += 1
        return None
    latency = time.monotonic() - started
    point.latencies.append(latency)
    if step:
        point.by_step.setdefault(step, []).append(latency)
    point.turns += 1
    return response


async def rest_client(point: Point, url: str, texts: list[str], deadline: float,
                      think: float) -> None:
    """A distinct sender sending its texts in turn over Rasa's REST channel."""
    sender = f"bench-{uuid.uuid4().hex[:12]}"
    await arrive(think)
    async with client_session() as http:
        for text in itertools.cycle(texts):
            if time.monotonic() >= deadline:
                return
            body = {"sender": sender, "message": text}
            await timed(point, lambda b=body: post(http, f"{url}/webhooks/rest/webhook", b))
            await pause(think)


async def pause(think: float) -> None:
    if think:
        await asyncio.sleep(random.uniform(0.5 * think, 1.5 * think))


async def arrive(think: float) -> None:
    """A thinking resident's first message comes at a random moment of the first think
    time. Without it all clients of a point send their first message in the same instant:
    a burst of 20 new conversations queued behind one another, which is no resident
    thinking 3 s between messages and which made the point's p95 (a 10 s point has about
    three turns per client, so the burst was a third of its turns)."""
    if think:
        await asyncio.sleep(random.uniform(0, think))


async def web_client(point: Point, base: str, deadline: float, think: float) -> None:
    """Residents one after another, each a whole report journey through the web chat; with
    a think time, the next resident arrives a think time after the last one's case."""
    await arrive(think)
    while time.monotonic() < deadline:
        await web_journey(point, base, deadline, think)
        await pause(think)


async def web_journey(point: Point, base: str, deadline: float, think: float) -> None:
    # Each journey is a new browser: its own cookies and its own address (X-Forwarded-For,
    # which uvicorn trusts from 127.0.0.1), as many residents are — the per-resident and
    # per-address rate limits of web/chat.py are not what is measured here.
    address = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
    async with client_session(headers={"X-Forwarded-For": address}) as http:
        try:
            async with http.get(f"{base}/chat") as page:
                page.raise_for_status()
                await page.read()
        except (aiohttp.ClientError, asyncio.TimeoutError):
            point.errors += 1
            return
        headers = csrf(http)
        body: dict = {"text": random.choice(REPORTS)}
        # a text in pieces is also split into its problems (nlu/split_at_parse.py)
        step = "report text" + (" in pieces" if len(cut(body["text"])) > 1 else "")
        for _ in range(10):
            response = await timed(point, lambda b=body: post(http, f"{base}/chat/send", b,
                                                              headers=headers), step)
            if response is None:
                return
            messages = response.json()["messages"]
            offered = [b for m in messages for b in m["buttons"]]
            if any(CASE_NO.search(m["text"]) for m in messages) and not offered:
                return  # the case is open: this journey is done
            choice = next((b for title in CHOICES for b in offered if b["title"] == title),
                          None)
            if choice is None or time.monotonic() >= deadline:
                if choice is None:
                    point.errors += 1  # a question the journey does not know how to answer
                return
            await pause(think)
            body, step = {"payload": choice["payload"]}, choice["title"]
        point.errors += 1  # no case number after 10 turns


async def run_point(point: Point, make_client, duration: float, procs: list[Proc]) -> Point:
    """N clients for ``duration`` seconds; the CPU each process of the stack spent meanwhile."""
    cpu_before = {proc.name: tree_cpu_s(proc.popen.pid) for proc in procs}
    client_before = time.process_time()
    started = time.monotonic()
    deadline = started + duration
    await asyncio.gather(*(make_client(point, deadline) for _ in range(point.clients)))
    point.seconds = time.monotonic() - started
    point.client_cpu_s = time.process_time() - client_before
    point.cpu_s = {proc.name: tree_cpu_s(proc.popen.pid) - cpu_before[proc.name]
                   for proc in procs}
    show(point)
    return point


async def run_plan(stack: str, load: str, plan: list[tuple[int, float]], client,
                   duration: float, procs: list[Proc]) -> list[Point]:
    """Every (clients, think) point of the plan, one after another, with the same client:
    ``client(point, deadline, think)`` is one simulated sender until the deadline."""
    points = []
    for clients, think in plan:
        point = Point(stack, load, clients, think)
        await run_point(point, lambda p, d, t=think: client(p, d, t), duration, procs)
        points.append(point)
    return points


async def first_answer(call, proc: Proc, started: float, timeout: float = 600) -> float:
    """Seconds from ``started`` (the spawn) to the first non-empty answer of ``call``."""
    async with client_session() as http:
        while time.monotonic() - started < timeout:
            if proc.popen.poll() is not None:
                raise SystemExit(f"{proc.name} exited while starting; see its log")
            try:
                if await call(http):
                    return time.monotonic() - started
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, KeyError):
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"no answer within {timeout:.0f} s")


def rest_answers(url: str, text: str):
    async def call(http: aiohttp.ClientSession) -> bool:
        response = await post(http, f"{url}/webhooks/rest/webhook",
                              {"sender": f"first-{uuid.uuid4().hex[:8]}", "message": text})
        return response.status == 200 and bool(response.json())
    return call


def web_answers(base: str):
    async def call(_: aiohttp.ClientSession) -> bool:
        async with client_session() as page:
            async with page.get(f"{base}/chat") as first:
                first.raise_for_status()
            response = await post(page, f"{base}/chat/send", {"text": "你好"},
                                   headers=csrf(page))
            return response.status == 200 and bool(response.json()["messages"])
    return call


# -- the two stacks ---------------------------------------------------------------------------
async def bench_bare(args, model: Path, work: Path) -> tuple[list[Point], dict]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    project = model.parent.parent
    started = time.monotonic()
    rasa = spawn("bare-rasa", [str(BIN / "rasa"), "run", "-m", str(model), "-i", "127.0.0.1",
                               "-p", str(port), "--endpoints", str(project / "endpoints.yml"),
                               "--credentials", str(project / "credentials.yml")],
                 child_env({}), project, work)
    try:
        ready = await first_answer(rest_answers(url, "hello"), rasa, started)
        ready_cpu = tree_cpu_s(rasa.popen.pid)
        print(f"bare Rasa: first answer {ready:.1f} s after start "
              f"(Rasa's CPU meanwhile {ready_cpu:.1f} s)", flush=True)
        with Sampler([rasa]):
            points = await run_plan("bare Rasa", "REST greetings/moods", args.plan,
                                    lambda p, d, t: rest_client(p, url, BARE_TEXTS, d, t),
                                    args.duration, [rasa])
        return points, {"first_answer_s": round(ready, 1), "rasa_cpu_to_first_answer_s":
                        round(ready_cpu, 1), "rss": rss_summary([rasa])}
    finally:
        rasa.stop()


async def bench_ours(args, model: Path, work: Path) -> tuple[list[Point], dict]:
    ports = processes.Ports(actions=free_port(), rasa=free_port(), web=free_port())
    env = child_env({
        "MINSHENG_DATABASE_URL": f"sqlite:///{work / 'minsheng.db'}",
        "MINSHENG_RASA_URL": f"http://127.0.0.1:{ports.rasa}",
        "MINSHENG_RASA_TOKEN": TOKENS["rasa"], "MINSHENG_ACTION_TOKEN": TOKENS["action"],
        "MINSHENG_WEB_SECRET_KEY": TOKENS["web"], "MINSHENG_SECRETS_DIR": str(work / "secrets"),
        "MINSHENG_ACTION_SERVER_URL": f"http://127.0.0.1:{ports.actions}/webhook",
        "MINSHENG_PHOTOS_DIR": str(work / "photos"),
        # a journey a minute per resident is far below it, but 50 clients open many cases
        "MINSHENG_DAILY_CASE_QUOTA": "100000"})
    for step in (["db", "upgrade"], ["seed", "demo"]):
        subprocess.run([str(BIN / "minsheng"), *step], cwd=ROOT, env=env,  # noqa: ASYNC221
                       check=True, stdout=subprocess.DEVNULL)  # before any load
    endpoints = yaml.safe_load((ROOT / "endpoints.yml").read_text(encoding="utf-8"))
    endpoints["action_endpoint"]["url"] = f"http://127.0.0.1:{ports.actions}/webhook"
    endpoints["tracker_store"]["db"] = str(work / "rasa_trackers.db")
    (work / "endpoints.yml").write_text(yaml.safe_dump(endpoints), encoding="utf-8")
    progs = processes.programs(BIN, TOKENS["rasa"], model, ports,
                               only=("actions", "web", "rasa"),
                               endpoints=str(work / "endpoints.yml"))
    started = time.monotonic()
    procs = [spawn(p.name, p.argv, env, ROOT, work) for p in progs]
    rasa = next(p for p in procs if p.name == "rasa")
    web = next(p for p in procs if p.name == "web")
    rasa_url, base = f"http://127.0.0.1:{ports.rasa}", f"http://127.0.0.1:{ports.web}"
    try:
        ready_rest = await first_answer(rest_answers(rasa_url, "你好"), rasa, started)
        # CPU seconds to the first answer: the start's cost whatever else the machine runs
        ready_cpu = tree_cpu_s(rasa.popen.pid)
        ready_web = await first_answer(web_answers(base), web, started)
        print(f"our stack: first answer {ready_rest:.1f} s after start (REST; Rasa's CPU "
              f"meanwhile {ready_cpu:.1f} s), {ready_web:.1f} s (web chat)", flush=True)
        with Sampler(procs):
            points = await run_plan("ours", "REST greetings", args.plan,
                                    lambda p, d, t: rest_client(p, rasa_url, OUR_GREETINGS, d, t),
                                    args.duration, procs)
            points += await run_plan("ours", "web chat report journeys", args.plan,
                                     lambda p, d, t: web_client(p, base, d, t),
                                     args.duration, procs)
        extra = {"first_answer_s": round(ready_rest, 1),
                 "rasa_cpu_to_first_answer_s": round(ready_cpu, 1),
                 "first_web_answer_s": round(ready_web, 1), "rss": rss_summary(procs)}
        if args.soak:
            for proc in procs:
                proc.rss_mb.clear()
            with Sampler(procs):
                points += await run_plan("ours", f"soak: web chat journeys, {args.soak:.0f} s",
                                         [(20, 0.0)], lambda p, d, t: web_client(p, base, d, t),
                                         args.soak, procs)
            extra["soak_rss"] = rss_summary(procs)
        return points, extra
    finally:
        for proc in reversed(procs):
            proc.stop()


async def make_run_cold_start(work: Path) -> dict:
    """`make run` (scripts/run.py) from its start to the first answer over Rasa's REST
    channel and in the web chat, on its own ports (5005, 8000): they must be free."""
    ports = processes.Ports()
    for port in (ports.rasa, ports.web, ports.actions):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                raise SystemExit(f"port {port} is in use: stop the running service first")
    started = time.monotonic()
    run = spawn("make-run", [sys.executable, str(ROOT / "scripts" / "run.py")],
                child_env({}), ROOT, work)
    try:
        rest = await first_answer(rest_answers(f"http://127.0.0.1:{ports.rasa}", "你好"), run,
                                  started)
        web = await first_answer(web_answers(f"http://127.0.0.1:{ports.web}"), run, started)
    finally:
        if run.popen.poll() is None:
            os.killpg(run.popen.pid, signal.SIGINT)  # run.py stops supervisord and its children
            run.popen.wait(60)
    print(f"make run: first answer after {rest:.1f} s (REST), {web:.1f} s (web chat)")
    return {"rest_s": round(rest, 1), "web_s": round(web, 1)}


def show(point: Point) -> None:
    row = point.row()
    print(f"  {row['stack']:9} {row['load']:26} {row['clients']:3} clients"
          f"{' think ' + str(row['think_s']) + ' s' if row['think_s'] else ''}: "
          f"{row['turns_per_s']:7.2f} turns/s  p50 {row['p50_ms']} ms  p95 {row['p95_ms']} ms"
          f"  p99 {row['p99_ms']} ms  errors {row['errors']}  CPU {row['cpu_ms_per_turn']} ms/turn "
          f"{row['cpu_ms_per_turn_by_process']}  (load client {row['client_cpu_ms_per_turn']})",
          flush=True)
    for step, figures in row.get("by_step", {}).items():
        print(f"      {step}: {figures['turns']} turns, p50 {figures['p50_ms']} ms, "
              f"p95 {figures['p95_ms']} ms", flush=True)


def table(rows: list[dict]) -> str:
    bare = {(r["clients"], r["think_s"]): r for r in rows if r["stack"] == "bare Rasa"}
    lines = [("| stack | load | clients | think | turns/s | p50 ms | p95 ms | p99 ms | errors "
              "| CPU ms/turn | turns/s ÷ bare | p95 ÷ bare | CPU/turn ÷ bare |"),
             "|" + "---|" * 13]

    def ratio(value, anchor_value) -> str:
        return f"{value / anchor_value:.2f}×" if value and anchor_value else "—"

    for r in rows:
        anchor = bare.get((r["clients"], r["think_s"])) if r["stack"] != "bare Rasa" else None
        ratios = [ratio(r[key], anchor[key]) if anchor else "—"
                  for key in ("turns_per_s", "p95_ms", "cpu_ms_per_turn")]
        think = f"~{r['think_s']:g} s" if r["think_s"] else "none"
        lines.append(f"| {r['stack']} | {r['load']} | {r['clients']} | {think} | "
                     f"{r['turns_per_s']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | "
                     f"{r['errors']} | {r['cpu_ms_per_turn']} | {' | '.join(ratios)} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30, help="seconds per point")
    parser.add_argument("--clients", default="1,20,50", help="clients without pause")
    parser.add_argument("--think", type=float, default=3.0,
                        help="think time of the think-time point (0: no such point)")
    parser.add_argument("--think-clients", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="10 s per point")
    parser.add_argument("--soak", type=float, default=0,
                        help="then N s of web chat journeys at 20 clients, RSS over it")
    parser.add_argument("--only", choices=("bare", "ours"), help="one stack only")
    parser.add_argument("--cold-start", action="store_true",
                        help="only time `make run` to its first answer (ports 5005/8000)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="where the rasa init bot is built (default ~/.cache/minsheng)")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration = 10.0
    args.plan = [(int(n), 0.0) for n in args.clients.split(",") if n.strip()]
    if args.think:
        args.plan.append((args.think_clients, args.think))
    return args


async def main_async(args) -> dict:
    out_dir = ROOT / "var" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-vs-rasa-"))
    results: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "duration_s": args.duration, "cpus": os.cpu_count(),
                     "load_average_at_start": list(os.getloadavg()), "stacks": {}}
    rows: list[dict] = []
    # both stacks start from compiled bytecode, as `make run` does (minsheng/processes.py)
    processes.ensure_bytecode(Path(sys.executable), ROOT / "uv.lock", on_compile=lambda: print(
        "compiling the virtualenv to bytecode once (about a minute)…", flush=True))
    if args.only != "ours":
        bare_model = default_bot(args.cache or default_cache())
        (work / "bare").mkdir()
        points, extra = await bench_bare(args, bare_model, work / "bare")
        rows += [p.row() for p in points]
        results["stacks"]["bare Rasa"] = extra
    if args.only != "bare":
        model = current_model_path(ROOT / "models") or current_model_path(
            ROOT / "tests" / "artefacts" / "nlu-models")
        if model is None:
            raise SystemExit("no trained model: run `minsheng nlu train` (or make run) first")
        results["model"] = model.name
        (work / "ours").mkdir()
        points, extra = await bench_ours(args, model.resolve(), work / "ours")
        rows += [p.row() for p in points]
        results["stacks"]["ours"] = extra
    results["rows"] = rows
    results["logs"] = str(work)
    path = out_dir / f"vs-rasa-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    print("\n" + table(rows))
    for name, extra in results["stacks"].items():
        print(f"\n{name}: first answer after {extra['first_answer_s']} s "
              f"(Rasa's CPU to it {extra['rasa_cpu_to_first_answer_s']} s)"
              + (f" (web chat {extra['first_web_answer_s']} s)"
                 if "first_web_answer_s" in extra else ""))
        for key in ("rss", "soak_rss"):
            for proc, rss in extra.get(key, {}).items():
                print(f"  {key} {proc}: start {rss['start_mb']} MB, middle {rss['mid_mb']} MB, "
                      f"end {rss['end_mb']} MB, max {rss['max_mb']} MB "
                      f"({rss['growth_pct']:+} %; second half {rss['second_half_growth_pct']:+} %)")
    print(f"\nresults: {path.relative_to(ROOT)}; process logs: {work}")
    return results


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.cold_start:
        asyncio.run(make_run_cold_start(Path(tempfile.mkdtemp(prefix="bench-cold-"))))
        return
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
