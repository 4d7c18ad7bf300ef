"""The multi-replica topology on one host, behind nginx, under one supervisord.

Two (``Replicas``) of each stateless process — Rasa, the action server, the web app, the
Telegram gateway in webhook mode — one scheduler, and nginx in front; the programs are
minsheng/processes.py's, on free ports. State lives outside the processes: cases in
PostgreSQL (``cases_url``), Rasa's trackers in PostgreSQL and its lock store in Redis
(endpoints.scale-out.yml), button tokens, chat locks and rate limits in Redis
(``MINSHENG_SHARED_STATE_URL``). ``MINSHENG_RASA_REPLICA_URLS`` names each Rasa replica, so
that a promoted model reaches every one.

nginx has three servers:

- public: ``/`` the web console and web chat (``/chat/events`` unbuffered, for SSE) and
  ``/telegram``, the gateways' webhook;
- Rasa: the web apps and gateways reach Rasa here (one URL, ``MINSHENG_RASA_URL``);
- actions: Rasa's ``action_endpoint``.

Why Rasa behind nginx rather than a list of URLs in each client: the clients
(bot.core.rasa.RasaClient) take one URL and already treat a failed turn as "kept, sent
again, looked up in the tracker first" (bot.core.replay); nginx adds the failover and the
passive health check (``max_fails``/``fail_timeout``) for every client at once, and a
replica is added in one place. nginx passes a request to the next replica only when the
connection failed before the request was sent (``proxy_next_upstream error timeout``;
POST is not idempotent, so a request a replica took and died with is not sent twice:
the caller's retry path, keyed by the message, decides).

``python -m minsheng.topology --model M --database-url URL`` starts it in the foreground
(tests/scaleout and scripts/bench_scale_out.py use ``Topology`` directly).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from minsheng import processes

ROOT = Path(__file__).resolve().parent.parent
NGINX = Path("/usr/sbin/nginx")
SCALE_OUT_ENDPOINTS = "endpoints.scale-out.yml"
WEBHOOK_PATH = "/telegram"
KINDS = ("rasa", "actions", "web", "gateway")  # the replicated programs
# A replica that failed this often within FAIL_TIMEOUT is left alone for FAIL_TIMEOUT
# (nginx's passive health check); supervisord restarts it meanwhile.
MAX_FAILS = 1
FAIL_TIMEOUT = 5
# nginx's temporary files, in the run directory (its defaults are /var/lib/nginx)
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


@dataclass(frozen=True)
class Replicas:
    rasa: int = 2
    actions: int = 2
    web: int = 2
    gateway: int = 2

    def of(self, kind: str) -> int:
        return getattr(self, kind)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Layout:
    """Every port: nginx's three servers and each replica's own."""

    public: int
    rasa: int
    actions: int
    replicas: dict[str, list[int]]

    @classmethod
    def on_free_ports(cls, replicas: Replicas) -> Layout:
        return cls(free_port(), free_port(), free_port(),
                   {kind: [free_port() for _ in range(replicas.of(kind))] for kind in KINDS})

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.public}"

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa}"

    @property
    def actions_url(self) -> str:
        return f"http://127.0.0.1:{self.actions}/webhook"

    def names(self, kind: str) -> list[str]:
        return [f"{kind}-{i}" for i in range(1, len(self.replicas[kind]) + 1)]


@dataclass(frozen=True)
class Secrets:
    """Made at random for each start unless given: no default secret is ever used."""

    rasa_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    action_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    web_secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    webhook_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))


@dataclass(frozen=True)
class Backing:
    """The shared servers: cases in ``cases_url``; Rasa's trackers in database
    ``trackers_db`` of the same PostgreSQL; Redis db 1 Rasa's locks (the scale-out
    endpoints file), ``shared_db`` everything else."""

    cases_url: str
    trackers_db: str
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    shared_db: int = 2

    @property
    def shared_url(self) -> str:
        return f"redis://{self.redis_host}:{self.redis_port}/{self.shared_db}"


def environment(layout: Layout, backing: Backing, keys: Secrets,
                extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every program (supervisord passes its own on)."""
    pg = urlparse(backing.cases_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINSHENG_")}
    env.update(
        processes.PROCESS_ENV, PYTHONPATH=str(ROOT),
        MINSHENG_DATABASE_URL=backing.cases_url,
        MINSHENG_RASA_URL=layout.rasa_url, MINSHENG_RASA_TOKEN=keys.rasa_token,
        MINSHENG_ACTION_TOKEN=keys.action_token, MINSHENG_WEB_SECRET_KEY=keys.web_secret_key,
        MINSHENG_TELEGRAM_WEBHOOK_SECRET=keys.webhook_secret,
        # button tokens, chat locks and rate limits (MINSHENG_THROTTLE_URL was renamed to
        # this one: the settings refuse the old name)
        MINSHENG_SHARED_STATE_URL=backing.shared_url,
        # where every Rasa replica pulls the promoted model from (endpoints.scale-out.yml's
        # model server, on main): the web apps, through nginx
        MINSHENG_MODEL_SERVER_URL=layout.public_url + "/api/nlu/model/current",
        # a promoted model is pushed to each Rasa replica itself, not to the balancer
        MINSHENG_RASA_REPLICA_URLS=json.dumps(
            [f"http://127.0.0.1:{port}" for port in layout.replicas["rasa"]]),
        # endpoints.scale-out.yml is filled from these by Rasa's ${VAR} substitution
        MINSHENG_ACTION_SERVER_URL=layout.actions_url,
        MINSHENG_PG_HOST=pg.hostname or "127.0.0.1", MINSHENG_PG_DB=backing.trackers_db,
        MINSHENG_REDIS_HOST=backing.redis_host,
        # the file the Rasa replicas run with: `minsheng privacy erase` finds the trackers there
        MINSHENG_RASA_ENDPOINTS=SCALE_OUT_ENDPOINTS,
    )
    env.update(extra or {})
    return env


def programs(bin_dir: Path, layout: Layout, model: Path, keys: Secrets, run_dir: Path,
             gateway: bool = True) -> list[processes.Program]:
    """processes.programs() once per replica, renamed ``<kind>-<n>``; the gateways in
    webhook mode; one scheduler; nginx."""
    found: list[processes.Program] = []
    for kind in KINDS:
        if kind == "gateway" and not gateway:
            continue
        for name, port in zip(layout.names(kind), layout.replicas[kind]):
            ports = processes.Ports(**{k: port for k in ("actions", "rasa", "web") if k == kind})
            [prog] = processes.programs(bin_dir, keys.rasa_token, model, ports,
                                        gateway=True, only=(kind,),
                                        endpoints=SCALE_OUT_ENDPOINTS)
            if kind == "gateway":
                prog = dataclasses.replace(prog, argv=prog.argv + [
                    "--webhook", layout.public_url + WEBHOOK_PATH,
                    "--listen", "127.0.0.1", "--port", str(port)])
            found.append(dataclasses.replace(prog, name=name))
    found += processes.programs(bin_dir, keys.rasa_token, None, only=("scheduler",))
    found.append(processes.Program(
        "nginx", [str(NGINX), "-e", str(run_dir / "log" / "nginx-error.log"),
                  "-c", str(run_dir / "nginx.conf")], f"{layout.public_url}/login"))
    return found


def _upstream(name: str, ports: list[int]) -> list[str]:
    servers = [f"    server 127.0.0.1:{p} max_fails={MAX_FAILS} fail_timeout={FAIL_TIMEOUT}s;"
               for p in ports]
    return [f"  upstream {name} {{", *servers, "  }"]


def nginx_conf(layout: Layout, run_dir: Path) -> str:
    """nginx.conf for ``layout``; logs and temporary files in ``run_dir``."""
    tmp = run_dir / "nginx"
    user = ["user root;"] if os.geteuid() == 0 else []  # workers may enter pytest's 0700 dirs
    lines = [
        *user, "daemon off;", "worker_processes 1;", f"pid {run_dir / 'nginx.pid'};",
        f"error_log {run_dir / 'log' / 'nginx-error.log'} warn;",
        "events { worker_connections 1024; }", "http {",
        # which replica answered, and which failed first when a request was passed on
        ("  log_format upstreams '$remote_addr [$time_local] \"$request\" $status "
         "upstream=$upstream_addr status=$upstream_status $request_time s';"),
        f"  access_log {run_dir / 'log' / 'nginx-access.log'} upstreams;",
        *(f"  {kind}_temp_path {tmp / kind};"
          for kind in TEMP_PATHS),
        "  client_max_body_size 12m;",  # web/uploads.py takes photos up to 10 MB
        "  proxy_http_version 1.1;",
        "  proxy_set_header Host $http_host;",
        # uvicorn trusts X-Forwarded-* from 127.0.0.1 (nginx): the web's per-address rate
        # limits see the resident's address. $remote_addr, not the client's own header.
        "  proxy_set_header X-Forwarded-For $remote_addr;",
        "  proxy_set_header X-Forwarded-Proto $scheme;",
        # a dead replica refuses the connection: the request goes to the other one
        "  proxy_next_upstream error timeout http_502 http_503;",
        "  proxy_next_upstream_tries 2;",
        "  proxy_connect_timeout 2s;",
        "  proxy_read_timeout 120s;",  # a turn waits for Rasa, which waits for actions
        *_upstream("web", layout.replicas["web"]),
        *_upstream("rasa", layout.replicas["rasa"]),
        *_upstream("actions", layout.replicas["actions"]),
    ]
    if layout.replicas["gateway"]:
        lines += _upstream("gateway", layout.replicas["gateway"])
    lines += [
        "  server {", f"    listen 127.0.0.1:{layout.public};",
        "    location / { proxy_pass http://web; }",
        # Server-Sent Events: every event reaches the page at once, the stream lives long
        "    location /chat/events { proxy_pass http://web; proxy_buffering off;",
        "                            proxy_cache off; proxy_read_timeout 1h; }",
    ]
    if layout.replicas["gateway"]:
        lines.append(f"    location = {WEBHOOK_PATH} {{ proxy_pass http://gateway; }}")
    lines += [
        "  }",
        "  server {", f"    listen 127.0.0.1:{layout.rasa};",
        "    location / { proxy_pass http://rasa; }", "  }",
        "  server {", f"    listen 127.0.0.1:{layout.actions};",
        "    location / { proxy_pass http://actions; }", "  }",
        "}", "",
    ]
    return "\n".join(lines)


def write_nginx_conf(layout: Layout, run_dir: Path) -> Path:
    """run_dir/nginx.conf, and the directories it names."""
    (run_dir / "log").mkdir(parents=True, exist_ok=True)
    for kind in TEMP_PATHS:
        (run_dir / "nginx" / kind).mkdir(parents=True, exist_ok=True)
    path = run_dir / "nginx.conf"
    path.write_text(nginx_conf(layout, run_dir), encoding="utf-8")
    return path


def answers(url: str, accept_errors: bool = False, check=None) -> bool:
    """Whether ``url`` answers 2xx and its body passes ``check`` (with ``accept_errors``:
    any HTTP status at all)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 300 and (check is None or check(response.read()))
    except urllib.error.HTTPError:
        return accept_errors
    except Exception:  # noqa: BLE001 - not up is an answer here
        return False


@dataclass
class Topology:
    """Start with ``start()``; ``wait_ready()``; ``kill(name)``; ``stop()``."""

    run_dir: Path
    model: Path
    backing: Backing
    replicas: Replicas = Replicas()
    keys: Secrets = field(default_factory=Secrets)
    extra_env: dict[str, str] = field(default_factory=dict)
    bin_dir: Path = Path(sys.executable).parent

    def __post_init__(self) -> None:
        self.layout = Layout.on_free_ports(self.replicas)
        self.gateways = bool(self.extra_env.get("TELEGRAM_BOT_TOKEN"))
        if not self.gateways:
            self.layout.replicas["gateway"] = []
        self.env = environment(self.layout, self.backing, self.keys, self.extra_env)
        self.programs = {p.name: p for p in programs(self.bin_dir, self.layout, self.model,
                                                     self.keys, self.run_dir, self.gateways)}
        self.supervisor: subprocess.Popen | None = None

    def start(self) -> Topology:
        # Rasa's start compiles TensorFlow's sources again without .pyc files (make run too)
        processes.ensure_bytecode(self.bin_dir / "python", ROOT / "uv.lock")
        write_nginx_conf(self.layout, self.run_dir)
        conf = processes.write_conf(list(self.programs.values()), ROOT, self.run_dir)
        out = open(self.run_dir / "supervisord.out", "w")  # noqa: SIM115 - the child's
        self.supervisor = subprocess.Popen(
            [str(self.bin_dir / "supervisord"), "-c", str(conf)], cwd=ROOT, env=self.env,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        return self

    # -- each program ----------------------------------------------------------------
    def pid(self, name: str) -> int:
        """The program's pid from supervisord (0 while it is not running)."""
        try:
            return int(processes.rpc(self.run_dir).supervisor.getProcessInfo(name)["pid"] or 0)
        except Exception:  # noqa: BLE001 - supervisord not up (yet) or gone
            return 0

    def ready(self, name: str) -> bool:
        port = self._port(name)
        if name.startswith("rasa-"):
            return answers(f"http://127.0.0.1:{port}/status?token={self.keys.rasa_token}",
                           check=lambda body: bool(json.loads(body).get("model_file")))
        if name.startswith("gateway-"):  # only POST is routed: a 405 is a live gateway
            return answers(f"http://127.0.0.1:{port}{WEBHOOK_PATH}", accept_errors=True)
        url = self.programs[name].ready_url
        return self.pid(name) > 0 and (url is None or answers(url))

    def _port(self, name: str) -> int | None:
        kind, _, n = name.rpartition("-")
        return self.layout.replicas[kind][int(n) - 1] if kind in KINDS else None

    def wait_ready(self, timeout: float, names: list[str] | None = None) -> float:
        """Wait until every program (or ``names``) answers; the seconds it took."""
        started = time.monotonic()
        waiting = list(names or self.programs)
        while waiting:
            if self.supervisor is not None and self.supervisor.poll() is not None:
                raise RuntimeError(f"supervisord exited ({self.supervisor.returncode}):\n"
                                   + self.logs())
            waiting = [n for n in waiting if not self.ready(n)]
            if waiting and time.monotonic() - started > timeout:
                raise TimeoutError(f"not ready after {timeout:.0f} s: {waiting}\n" + self.logs())
            time.sleep(0.5 if waiting else 0)
        return time.monotonic() - started

    def kill(self, name: str) -> int:
        """SIGKILL to the program's process group, as a crash would; its old pid."""
        pid = self.pid(name)
        if pid <= 0:
            raise RuntimeError(f"{name} is not running")
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return pid

    def wait_back(self, name: str, old_pid: int, timeout: float) -> float:
        """Seconds until ``name`` runs under a new pid and answers."""
        started = time.monotonic()
        while not (self.pid(name) not in (0, old_pid) and self.ready(name)):
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{name} not back after {timeout:.0f} s\n" + self.logs())
            time.sleep(0.25)
        return time.monotonic() - started

    def logs(self, lines: int = 30) -> str:
        out = []
        for name in [*self.programs, "supervisord"]:
            path = self.run_dir / "log" / f"{name}.log"
            text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
            out += [f"[{name}] {line}" for line in text.splitlines()[-lines:]]
        return "\n".join(out)

    def stop(self) -> None:
        if self.supervisor is None or self.supervisor.poll() is not None:
            return
        self.supervisor.send_signal(signal.SIGTERM)  # supervisord stops every child first
        try:
            self.supervisor.wait(processes.STOP_SECONDS + 30)
        except subprocess.TimeoutExpired:
            os.killpg(self.supervisor.pid, signal.SIGKILL)
            self.supervisor.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minsheng.topology", description=__doc__
                                     .split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a trained model .tar.gz")
    parser.add_argument("--database-url", required=True,
                        help="PostgreSQL for the cases (migrated with `minsheng db upgrade`)")
    parser.add_argument("--trackers-db", required=True,
                        help="database of Rasa's trackers on the same PostgreSQL server")
    parser.add_argument("--run-dir", type=Path, default=ROOT / "var" / "topology")
    args = parser.parse_args(argv)
    extra = {k: v for k, v in os.environ.items()
             if k in ("TELEGRAM_BOT_TOKEN", "MINSHENG_TELEGRAM_BASE_URL")}
    topology = Topology(args.run_dir, args.model.resolve(),
                        Backing(args.database_url, args.trackers_db), extra_env=extra).start()
    signal.signal(signal.SIGTERM, lambda *_: (topology.stop(), sys.exit(0)))
    try:
        print(f"waiting for {len(topology.programs)} programs …", flush=True)
        topology.wait_ready(600)
        print(f"serving on {topology.layout.public_url} (Rasa via "
              f"{topology.layout.rasa_url}); logs in {args.run_dir / 'log'}", flush=True)
        topology.supervisor.wait()
    except KeyboardInterrupt:
        pass
    finally:
        topology.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
