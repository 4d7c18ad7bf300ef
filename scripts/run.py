"""Start the whole service on the embedded default: `make run`.

Makes sure a trained model exists, then runs the processes of DESIGN.md under supervisord
(minsheng/processes.py): action server :5055, Rasa :5005 (REST channel, token-protected
API), the scheduler, the web console :8000 and — when a Telegram token is configured — the
gateway. Rasa starts first: while it loads its model (most of the cold start), the SQLite
database is prepared (migrations; demo district on first start), then the processes that
use it start. A process that crashes is restarted; the others keep serving. Ctrl-C stops
all.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from minsheng import processes
from minsheng.settings import load_settings


def _minsheng(*args: str) -> None:
    subprocess.run([str(BIN / "minsheng"), *args], cwd=ROOT, check=True)


def _wait_http(url: str, name: str, supervisor: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if supervisor.poll() is not None:
            raise SystemExit(f"supervisord exited with code {supervisor.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.5)
    raise SystemExit(f"{name} did not answer at {url} within {timeout:.0f} s "
                     f"(see var/log/{name}.log)")


def _current_model() -> Path:
    from nlu.registry import current_model_path  # the NLU registry decides which model serves

    settings = load_settings()
    path = current_model_path(settings.models_dir)
    if path is None:
        print("还没有训练好的模型：先训练一次（约几分钟）…", flush=True)
        _minsheng("nlu", "train")
        path = current_model_path(settings.models_dir)
    if path is None:
        raise SystemExit("训练后仍找不到模型，请查看上面的训练输出。")
    return path


def _first_admin(settings) -> None:
    """On an empty console, create `admin` with a random password and print it once.

    The password is also kept in var/first-admin.txt (git-ignored) so it is not lost with
    the terminal; change it with `minsheng user passwd admin`.
    """
    from minsheng.db import Database
    from minsheng.users import ensure_first_admin

    db = Database(settings.database_url)
    try:
        with db.uow() as uow:
            password = ensure_first_admin(uow)
    finally:
        db.dispose()
    if password is None:
        return
    note = ROOT / "var" / "first-admin.txt"
    note.parent.mkdir(exist_ok=True)
    note.write_text(f"username: admin\npassword: {password}\n", encoding="utf-8")
    print(f"已创建控制台管理员：admin / {password}（也记在 var/first-admin.txt）", flush=True)


def _prepare(settings) -> None:
    _minsheng("db", "upgrade")
    _minsheng("seed", "demo")  # idempotent: a second run adds nothing
    _first_admin(settings)


def _start_later(run_dir: Path, names: tuple[str, ...], supervisor: subprocess.Popen) -> None:
    """Start the programs held back, all at once: over supervisord's XML-RPC socket without
    waiting (``supervisorctl start`` waits startsecs for each in turn). The socket may
    still be coming up, so a refused call is tried again for a few seconds."""
    import xmlrpc.client

    from supervisor.xmlrpc import SupervisorTransport

    transport = SupervisorTransport(None, None, f"unix://{run_dir / 'supervisor.sock'}")
    rpc = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
    deadline = time.monotonic() + 30
    for name in names:
        while True:
            try:
                rpc.supervisor.startProcess(name, False)
                break
            except (OSError, xmlrpc.client.Fault) as error:
                if supervisor.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"could not start {name}: {error}") from None
                time.sleep(0.3)


def main() -> int:
    settings = load_settings()  # makes the secrets in var/secrets on first run
    os.chdir(ROOT)
    from nlu.registry import current_model_path

    # Rasa's start (imports, model loading: most of the cold start) needs no case database,
    # so with a trained model it starts first and the database is prepared meanwhile; the
    # processes that use the database start once it is ready.
    processes.ensure_bytecode(Path(sys.executable), ROOT / "uv.lock", on_compile=lambda: print(
        "首次启动（或依赖更新后）：先把依赖预编译成字节码，约需一两分钟，以后启动会更快…",
        flush=True))
    early = current_model_path(settings.models_dir) is not None
    if not early:
        _prepare(settings)
    model = _current_model()

    # Rasa fills endpoints.yml's action-server header from the environment; the other
    # processes read the same secrets from var/secrets themselves.
    env = dict(os.environ, **processes.PROCESS_ENV, MINSHENG_ACTION_TOKEN=settings.action_token)
    progs = processes.programs(BIN, settings.rasa_token, model,
                               gateway=bool(settings.telegram_bot_token))
    later = tuple(p.name for p in progs if p.name != "rasa") if early else ()
    conf = processes.write_conf(progs, ROOT, ROOT / "var", later)
    supervisor = subprocess.Popen([str(BIN / "supervisord"), "-c", str(conf)], cwd=ROOT,
                                  env=env, start_new_session=True)

    def stop(*_args) -> None:
        if supervisor.poll() is None:
            supervisor.send_signal(signal.SIGTERM)  # supervisord stops every child first
        try:
            supervisor.wait(timeout=processes.STOP_SECONDS + 10)
        except subprocess.TimeoutExpired:
            os.killpg(supervisor.pid, signal.SIGKILL)

    signal.signal(signal.SIGTERM, lambda *a: (stop(), sys.exit(0)))
    try:
        if later:
            _prepare(settings)
            _start_later(ROOT / "var", later, supervisor)
        for prog in progs:
            if prog.ready_url:
                _wait_http(prog.ready_url, prog.name, supervisor,
                           300 if prog.name == "rasa" else 120)
        print(
            "\n民生说事已启动（嵌入式默认：SQLite"
            + ("，Telegram 网关（轮询）" if settings.telegram_bot_token else "，无 Telegram token")
            + "）。\n"
            "  网页控制台：http://127.0.0.1:8000/ （管理员账号见 var/first-admin.txt）\n"
            "  居民网页聊天：http://127.0.0.1:8000/chat\n"
            "  在终端里和机器人聊天：.venv/bin/python scripts/chat.py\n"
            "  进程由 supervisord 看护：崩溃的进程会自动重启，其他进程照常服务；\n"
            "    状态 .venv/bin/supervisorctl -c var/supervisord.conf status，日志在 var/log/\n"
            "  接入 Telegram：在 .env 里写 TELEGRAM_BOT_TOKEN=… 后重新 make run\n"
            "  按 Ctrl-C 停止。\n",
            flush=True,
        )
        return supervisor.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
