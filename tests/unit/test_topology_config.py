"""minsheng/topology.py's configuration, without starting it: the programs, their
environment and the nginx.conf that nginx itself accepts."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from minsheng.topology import (
    Backing,
    Layout,
    Replicas,
    Secrets,
    environment,
    programs,
    write_nginx_conf,
)

BIN = Path("/venv/bin")


def test_two_of_each_kind_one_scheduler_and_nginx_on_their_own_ports(tmp_path):
    layout = Layout.on_free_ports(Replicas())
    found = {p.name: p for p in programs(BIN, layout, Path("m.tar.gz"), Secrets(), tmp_path)}
    assert sorted(found) == ["actions-1", "actions-2", "gateway-1", "gateway-2", "nginx",
                             "rasa-1", "rasa-2", "scheduler", "web-1", "web-2"]
    for kind in ("rasa", "actions", "web", "gateway"):
        for name, port in zip(layout.names(kind), layout.replicas[kind]):
            assert str(port) in found[name].argv, (name, found[name].argv)
    assert "endpoints.scale-out.yml" in found["rasa-1"].argv
    gateway = found["gateway-2"].argv
    assert gateway[gateway.index("--webhook") + 1] == layout.public_url + "/telegram"
    assert len({port for ports in layout.replicas.values() for port in ports}
               | {layout.public, layout.rasa, layout.actions}) == 11


def test_every_program_reaches_rasa_and_actions_through_nginx_and_shares_redis(monkeypatch):
    monkeypatch.setenv("MINSHENG_DATABASE_URL", "sqlite:///outside.db")
    layout = Layout.on_free_ports(Replicas())
    keys = Secrets()
    env = environment(layout, Backing("postgresql://postgres@db:5432/cases", "trackers"), keys)
    assert env["MINSHENG_RASA_URL"] == f"http://127.0.0.1:{layout.rasa}"
    assert env["MINSHENG_ACTION_SERVER_URL"] == f"http://127.0.0.1:{layout.actions}/webhook"
    assert env["MINSHENG_DATABASE_URL"] == "postgresql://postgres@db:5432/cases"
    assert env["MINSHENG_PG_HOST"] == "db" and env["MINSHENG_PG_DB"] == "trackers"
    assert env["MINSHENG_RASA_ENDPOINTS"] == "endpoints.scale-out.yml"  # privacy erase's
    assert env["MINSHENG_SHARED_STATE_URL"] == "redis://127.0.0.1:6379/2"
    assert "MINSHENG_THROTTLE_URL" not in env  # renamed: the settings refuse the old name
    assert json.loads(env["MINSHENG_RASA_REPLICA_URLS"]) == [
        f"http://127.0.0.1:{port}" for port in layout.replicas["rasa"]]
    assert env["MINSHENG_WEB_SECRET_KEY"] == keys.web_secret_key
    assert Secrets().web_secret_key != keys.web_secret_key  # made at random, never a default


@pytest.mark.skipif(not Path("/usr/sbin/nginx").exists(), reason="nginx not installed")
def test_nginx_accepts_the_generated_configuration(tmp_path):
    layout = Layout.on_free_ports(Replicas())
    conf = write_nginx_conf(layout, tmp_path)
    text = conf.read_text(encoding="utf-8")
    for port in layout.replicas["web"] + layout.replicas["rasa"]:
        assert f"server 127.0.0.1:{port} max_fails=" in text
    assert "proxy_next_upstream error timeout" in text and "proxy_buffering off" in text
    checked = subprocess.run(["/usr/sbin/nginx", "-t", "-c", str(conf),
                              "-e", str(tmp_path / "log" / "error.log")],
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
