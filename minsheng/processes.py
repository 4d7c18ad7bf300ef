"""The processes of one host, and the supervisord configuration that keeps them running.

`make run` (scripts/run.py) and the supervision tests build the configuration here, so
what is tested is what runs. supervisord restarts a process that dies (immediately when it
had been up, with a growing delay while it keeps failing to start) and leaves the others
alone; its own log line says which process exited and how. Production hosts use the
systemd units in deploy/systemd instead (DEPLOY.md), which do the same with Restart=.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

# A process that dies within this many seconds of starting counts as "failed to start";
# supervisord waits 1 s, 2 s, 3 s … between such attempts and gives up after this many.
START_SECONDS = 3
START_RETRIES = 30
STOP_SECONDS = 15  # then SIGKILL to the whole process group

# What every program of ours runs with, wherever it is started (make run, the benchmark, the
# scale-out topology, the end-to-end tests). MALLOC_ARENA_MAX: glibc gives each thread that
# allocates its own malloc arena (up to 8 per core); the web app's and the action server's
# worker threads (SQLite, to_thread) then spread small allocations over many arenas, and
# RSS kept growing under load with the Python heap flat (tracemalloc) — 2 arenas bound it.
PROCESS_ENV = {"PYTHONUNBUFFERED": "1", "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
               "RASA_TELEMETRY_ENABLED": "false", "MALLOC_ARENA_MAX": "2"}


@dataclass(frozen=True)
class Ports:
    actions: int = 5055
    rasa: int = 5005
    web: int = 8000


@dataclass(frozen=True)
class Program:
    name: str
    argv: list[str]
    ready_url: str | None = None


def programs(bin_dir: Path, rasa_token: str, model: Path | None, ports: Ports = Ports(),
             gateway: bool = False, only: tuple[str, ...] | None = None,
             endpoints: str = "endpoints.yml") -> list[Program]:
    """Every process of DESIGN.md's runtime table, listening on 127.0.0.1 (``endpoints``:
    Rasa's endpoints file, another one for a stack on other ports, e.g. the benchmark's)."""
    found = [
        Program("actions", [str(bin_dir / "python"), "-m", "actions.server",
                            "--port", str(ports.actions)],
                f"http://127.0.0.1:{ports.actions}/health"),
        Program("web", [str(bin_dir / "uvicorn"), "web.app:create_app", "--factory",
                        "--ws", "none", "--host", "127.0.0.1", "--port", str(ports.web)],
                f"http://127.0.0.1:{ports.web}/login"),
        Program("scheduler", [str(bin_dir / "minsheng"), "scheduler", "run"]),
    ]
    if model is not None:
        # `rasa run` through nlu/rasa_run.py (same arguments): it validates the action
        # server's replies with a validator built once instead of once per call.
        found.append(Program(
            "rasa", [str(bin_dir / "python"), "-m", "nlu.rasa_run", "--enable-api",
                     "-i", "127.0.0.1",
                     "-p", str(ports.rasa), "--auth-token", rasa_token,
                     "--endpoints", endpoints, "--credentials", "credentials.yml",
                     "-m", str(model)],
            f"http://127.0.0.1:{ports.rasa}/"))
    if gateway:
        found.append(Program("gateway", [str(bin_dir / "python"), "-m", "bot"]))
    return [p for p in found if only is None or p.name in only]


def supervisord_conf(progs: list[Program], root: Path, run_dir: Path,
                     later: tuple[str, ...] = ()) -> str:
    """supervisord.conf: children log to run_dir/log/<name>.log; supervisord prints its
    own log (spawned, exited, restarted) and keeps it in run_dir/log/supervisord.log.

    Programs named in ``later`` are not started with supervisord but by ``supervisorctl
    start`` (scripts/run.py: Rasa loads its model while the database is prepared)."""
    log_dir = run_dir / "log"
    lines = [
        # In the foreground supervisord also prints its log: the file keeps it afterwards.
        "[supervisord]", "nodaemon=true", f"logfile={log_dir / 'supervisord.log'}",
        "loglevel=info", f"pidfile={run_dir / 'supervisord.pid'}", f"directory={root}",
        "",
        "[unix_http_server]", f"file={run_dir / 'supervisor.sock'}", "chmod=0700", "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
        "[supervisorctl]", f"serverurl=unix://{run_dir / 'supervisor.sock'}", "",
    ]
    for prog in progs:
        lines += [
            f"[program:{prog.name}]",
            # supervisord expands %(...)s in its own values: escape a literal percent sign.
            "command=" + " ".join(shlex.quote(a) for a in prog.argv).replace("%", "%%"),
            f"directory={root}", f"autostart={str(prog.name not in later).lower()}",
            "autorestart=true",
            f"startsecs={START_SECONDS}", f"startretries={START_RETRIES}",
            f"stopwaitsecs={STOP_SECONDS}", "stopasgroup=true", "killasgroup=true",
            "redirect_stderr=true", f"stdout_logfile={log_dir / (prog.name + '.log')}",
            "stdout_logfile_maxbytes=10MB", "stdout_logfile_backups=3",
            "",
        ]
    return "\n".join(lines)


def write_conf(progs: list[Program], root: Path, run_dir: Path,
               later: tuple[str, ...] = ()) -> Path:
    (run_dir / "log").mkdir(parents=True, exist_ok=True)
    path = run_dir / "supervisord.conf"
    path.write_text(supervisord_conf(progs, root, run_dir, later), encoding="utf-8")
    return path


def ensure_bytecode(python: Path, lock: Path, on_compile=None) -> bool:
    """Compile the virtualenv's packages to bytecode once per lock file; True if it did.

    uv installs without .pyc files, and with PYTHONDONTWRITEBYTECODE set (as on our
    machines) Python never writes them: every start of Rasa then compiled TensorFlow's and
    Rasa's sources again — about 40 % of its start (py-spy). Reading .pyc files is not
    affected by that variable, so compiling once makes every later start skip it.
    ``on_compile()`` is called before a compile (to tell the user why they wait).
    """
    import hashlib
    import subprocess
    import sysconfig

    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(python.parent.parent),
                                                        "platbase": str(python.parent.parent)}))
    marker = python.parent.parent / ".minsheng-bytecode"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest() if lock.exists() else "-"
    if marker.exists() and marker.read_text(encoding="utf-8") == digest:
        return False
    if on_compile is not None:
        on_compile()
    subprocess.run([str(python), "-m", "compileall", "-q", "-j", "0", str(purelib)],
                   check=False, stdout=subprocess.DEVNULL)  # a file that fails stays source
    marker.write_text(digest, encoding="utf-8")
    return True


def rpc(run_dir: Path):
    """supervisord's XML-RPC interface over the run directory's socket (start, stop and
    look up programs without waiting as ``supervisorctl`` does)."""
    import xmlrpc.client

    from supervisor.xmlrpc import SupervisorTransport

    transport = SupervisorTransport(None, None, f"unix://{run_dir / 'supervisor.sock'}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
