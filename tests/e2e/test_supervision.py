"""`make run`'s supervision, with the real supervisord and our real processes: a process
killed with SIGKILL is restarted, and the others keep serving meanwhile."""
from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request

import pytest

from minsheng import processes
from minsheng.migrate import upgrade
from tests.e2e.harness import BIN, ROOT, base_env, free_port, wait_until

pytestmark = pytest.mark.slow
RESTART_BUDGET = 10.0  # seconds: the target for the web chat after a single kill


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except Exception:  # noqa: BLE001 - down is an answer here
        return False


@pytest.fixture(scope="module")
def supervised(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("supervised")
    url = f"sqlite:///{run_dir / 'minsheng.db'}"
    upgrade(url)
    ports = processes.Ports(actions=free_port(), rasa=free_port(), web=free_port())
    progs = processes.programs(BIN, "unused-rasa-token-000", None, ports,
                               only=("actions", "web", "scheduler"))
    conf = processes.write_conf(progs, ROOT, run_dir)
    env = base_env(MINSHENG_DATABASE_URL=url, MINSHENG_SECRETS_DIR=str(run_dir / "secrets"))
    out = open(run_dir / "supervisord.out", "w")  # noqa: SIM115 - supervisord writes to it
    supervisor = subprocess.Popen([str(BIN / "supervisord"), "-c", str(conf)], cwd=ROOT,
                                  env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        for prog in progs:
            if prog.ready_url:
                wait_until(lambda p=prog: answers(p.ready_url), 90, f"{prog.name} ready")
        yield {p.name: p for p in progs}, conf, run_dir
    finally:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(40)
        out.close()


def pid_of(conf, name: str) -> int:
    """The running pid, or 0 while supervisord is (re)starting it (supervisorctl exits 7)."""
    result = subprocess.run([str(BIN / "supervisorctl"), "-c", str(conf), "pid", name],
                            capture_output=True, text=True, check=False)
    out = result.stdout.strip()
    return int(out) if result.returncode == 0 and out.isdigit() else 0


def all_running(conf) -> bool:
    """supervisord counts every program RUNNING (up past startsecs): a process killed
    before that is a failed start to it, restarted on another schedule than a crash."""
    result = subprocess.run([str(BIN / "supervisorctl"), "-c", str(conf), "status"],
                            capture_output=True, text=True, check=False)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return bool(lines) and all(" RUNNING " in f"{line} " for line in lines)


@pytest.mark.parametrize("victim,witness", [("actions", "web"), ("web", "actions"),
                                            ("scheduler", "web")])
def test_a_killed_process_is_restarted_while_the_others_keep_serving(supervised, victim,
                                                                      witness):
    progs, conf, run_dir = supervised
    wait_until(lambda: all_running(conf), 60, "every program RUNNING")
    before = pid_of(conf, victim)
    os.kill(before, signal.SIGKILL)
    killed_at = time.monotonic()
    witness_down = 0

    def back() -> bool:
        nonlocal witness_down
        witness_down += not answers(progs[witness].ready_url)
        pid = pid_of(conf, victim)
        if pid in (0, before):
            return False
        return progs[victim].ready_url is None or answers(progs[victim].ready_url)

    wait_until(back, 60, f"{victim} restarted")
    took = time.monotonic() - killed_at
    print(f"{victim}: answering again {took:.1f} s after SIGKILL")
    assert took <= RESTART_BUDGET
    assert witness_down == 0, f"{witness} stopped answering while {victim} was down"
    log = (run_dir / "supervisord.out").read_text()
    assert f"exited: {victim} (terminated by SIGKILL; not expected)" in log
