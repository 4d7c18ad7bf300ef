"""Private PostgreSQL and Redis servers for the fault suite, in a temp dir on spare ports.

The suite restarts them mid-journey, so they must never be the shared servers other tests
and helpers use. PostgreSQL refuses to run as root: as root, initdb and pg_ctl run as the
``postgres`` user (``runuser``), which owns the data directory.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2

from tests.e2e.harness import free_port, wait_until


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(
        f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    assert found, f"{name} not found (PostgreSQL server binaries)"
    return found


def available() -> str | None:
    """Why the private servers cannot run here, or None when they can."""
    try:
        _pg_bin("initdb"), _pg_bin("pg_ctl")
    except AssertionError as error:
        return str(error)
    if not shutil.which("redis-server"):
        return "redis-server not found"
    return None


class PrivatePostgres:
    def __init__(self) -> None:
        # Its own temp dir: pytest's (mode 0700, root's) is closed to the postgres user.
        self.base = Path(tempfile.mkdtemp(prefix="minsheng-faults-pg-"))
        self.data = self.base / "pgdata"
        self.port = free_port()
        self._as = []
        if os.geteuid() == 0:  # postgres never runs as root
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.base, "postgres")

    def url(self, db: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def _run(self, *argv: str) -> None:
        subprocess.run(self._as + list(argv), check=True, cwd="/tmp",
                       stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def init(self, *databases: str) -> PrivatePostgres:
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--no-sync")
        self.start()
        conn = psycopg2.connect(self.url("postgres"))
        conn.autocommit = True
        with conn.cursor() as cur:
            for name in databases:
                cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return self

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c max_connections=200")
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.base / "postgres.log"), "-w", "start")

    def stop(self) -> None:
        """Fast shutdown: every connection is cut, as a restart of the server does."""
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def restart(self, down: float) -> None:
        self.stop()
        time.sleep(down)
        self.start()

    def remove(self) -> None:
        """Stopped, and its files gone."""
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # not running
        shutil.rmtree(self.base, ignore_errors=True)


class PrivateRedis:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self._process: subprocess.Popen | None = None

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> PrivateRedis:
        log = open(self.base / "redis.log", "a")  # noqa: SIM115 - the server writes to it
        self._process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.base)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_until(self._answers, 20, "redis up", interval=0.1)
        return self

    def _answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(20)

    def restart(self, down: float) -> None:
        self.stop()
        time.sleep(down)
        self.start()
