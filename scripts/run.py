"""Start the whole service on the embedded default: `make run`.

Prepares the SQLite database (migrations; demo district on first start), makes sure a
trained model exists, then runs the processes of DESIGN.md side by side and stops them
together: action server :5055, Rasa :5005 (REST channel, token-protected API), the
scheduler, the web console :8000 and — when a Telegram token is configured — the gateway.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from minsheng.settings import load_settings  # noqa: E402


def _minsheng(*args: str) -> None:
    subprocess.run([str(BIN / "minsheng"), *args], cwd=ROOT, check=True)


def _wait_http(url: str, name: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited with code {proc.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:
            time.sleep(0.5)
    raise SystemExit(f"{name} did not answer at {url} within {timeout:.0f} s")


def _pump(name: str, proc: subprocess.Popen) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(f"[{name}] {line}")
        sys.stdout.flush()


def _start(name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    threading.Thread(target=_pump, args=(name, proc), daemon=True).start()
    return proc


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


def main() -> int:
    settings = load_settings()
    os.chdir(ROOT)
    _minsheng("db", "upgrade")
    _minsheng("seed", "demo")  # idempotent: a second run adds nothing
    _first_admin(settings)
    model = _current_model()

    # Rasa fills endpoints.yml's action-server header from the environment; the other
    # processes read the same secrets from var/secrets themselves.
    env = dict(os.environ, PYTHONUNBUFFERED="1", SQLALCHEMY_SILENCE_UBER_WARNING="1",
               RASA_TELEMETRY_ENABLED="false", MINSHENG_ACTION_TOKEN=settings.action_token)
    procs: list[tuple[str, subprocess.Popen]] = []

    def stop_all(*_args) -> None:
        for _name, proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _name, proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    signal.signal(signal.SIGTERM, lambda *a: (stop_all(), sys.exit(0)))
    try:
        actions = _start("actions", [str(BIN / "python"), "-m", "actions.server",
                                     "--port", "5055"], env)
        procs.append(("actions", actions))
        rasa = _start("rasa", [str(BIN / "rasa"), "run", "--enable-api", "-i", "127.0.0.1",
                               "-p", "5005", "--auth-token", settings.rasa_token,
                               "--endpoints", "endpoints.yml", "--credentials", "credentials.yml",
                               "-m", str(model)], env)
        procs.append(("rasa", rasa))
        procs.append(("scheduler", _start("scheduler", [str(BIN / "minsheng"), "scheduler",
                                                        "run"], env)))
        web = None
        if (ROOT / "web" / "app.py").exists():
            web = _start("web", [str(BIN / "uvicorn"), "web.app:create_app", "--factory", "--ws", "none",
                                 "--host", "127.0.0.1", "--port", "8000"], env)
            procs.append(("web", web))
        _wait_http("http://127.0.0.1:5055/health", "action server", actions, 120)
        _wait_http("http://127.0.0.1:5005/", "Rasa server", rasa, 300)
        if settings.telegram_bot_token:
            procs.append(("gateway", _start("gateway", [str(BIN / "python"), "-m", "bot"], env)))
            print("Telegram 网关已启动（轮询模式）。", flush=True)
        else:
            print(
                "\n民生说事已启动（嵌入式默认：SQLite，无 Telegram token）。\n"
                + ("  网页控制台：http://127.0.0.1:8000/ （管理员账号见 var/first-admin.txt）\n"
                   "  居民网页聊天：http://127.0.0.1:8000/chat\n" if web else "")
                + "  在终端里和机器人聊天：.venv/bin/python scripts/chat.py\n"
                "  接入 Telegram：在 .env 里写 TELEGRAM_BOT_TOKEN=… 后重新 make run\n"
                "  按 Ctrl-C 停止。\n",
                flush=True,
            )
        while True:
            for name, proc in procs:
                if proc.poll() is not None:
                    print(f"{name} 已退出（代码 {proc.returncode}），正在停止其他进程。", flush=True)
                    return 1
            time.sleep(1)
    except KeyboardInterrupt:
        return 0
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
