"""Two of each behind nginx, loaded and broken: minsheng/topology.py started for real.

2 Rasa servers, 2 action servers, 2 web apps, 2 Telegram gateways (webhook mode), the
scheduler and nginx under one supervisord; cases and trackers in fresh PostgreSQL
databases, Rasa's locks and the shared state in Redis. Residents report through nginx
(web chat journeys, Telegram updates posted to the webhook; tests/scaleout/load.py);
mid-load one replica of each kind gets ``kill -9`` and the load goes on for 30 s. Then
every message must have been answered exactly once, every confirmed journey must have
exactly one case, turns must have kept completing while the replicas were down, and
supervisord must have restarted them (the killed Rasa server is not waited for: its model
load takes minutes on a busy 2-core machine). The counts are printed (``-s``).
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from minsheng.services.outbox import CLAIM_LEASE_SECONDS
from tests.conftest import REDIS_ADDR, require_service
from tests.e2e.harness import print_logs_if_failed, rasa_budget, wait_until
from tests.faults.journeys import count, crash_copies
from tests.scaleout.deployment import start_deployment
from tests.scaleout.load import VICTIMS, Load, p95, sends_after, settle, web_count

pytestmark = [pytest.mark.scaleout, pytest.mark.postgres, pytest.mark.redis,
              pytest.mark.slow]

WEB_CLIENTS, TELEGRAM_CLIENTS = 6, 4
WARM_UP_TURNS = 12  # answered before the kills: the load is really on
OUTAGE = 30.0  # seconds of load after the kills (a killed Rasa is still loading then)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, served_model):
    require_service("PostgreSQL", "127.0.0.1", 5432)
    require_service("Redis", *REDIS_ADDR)
    if not Path("/usr/sbin/nginx").exists():
        pytest.fail("nginx is missing: scripts/ensure_nginx.sh installs it (make test does)")
    started = start_deployment(tmp_path_factory.mktemp("topology"), served_model)
    try:
        started.topology.wait_ready(2 * rasa_budget())
        yield started
    finally:
        started.stop()


@pytest.fixture
def logs_on_failure(deployment, request):
    yield
    print_logs_if_failed(request, lambda: deployment.topology.logs(40))


def test_one_replica_of_each_kind_killed_under_load_loses_and_doubles_nothing(
        deployment, logs_on_failure):
    topology = deployment.topology
    load = Load(deployment, WEB_CLIENTS, TELEGRAM_CLIENTS).start()
    try:
        wait_until(lambda: len(load.turns.answered) >= WARM_UP_TURNS, 180,
                   "the first turns under load", interval=0.5)
        killed_at = time.monotonic()
        old = {name: topology.kill(name) for name in VICTIMS}
        gone_at = time.monotonic()  # a victim worked on until its SIGKILL, not killed_at
        # The others are back within seconds; a Rasa server takes its model load (minutes
        # on a busy machine): the load goes on while it loads, not until it is back.
        back = {name: topology.wait_back(name, pid, 120) for name, pid in old.items()
                if not name.startswith("rasa-")}
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - killed_at)))
        window_end = time.monotonic()
        rasa_down = not topology.ready(VICTIMS[0])
        during = load.turns.between(killed_at, window_end)
    finally:
        load.finish()
    settle(deployment)

    found = {f"telegram {j.chat}": count(deployment, j) for j in load.telegram if j.pushed}
    # A row the killed gateway had just sent but not yet recorded is sent again once its
    # lease runs out: counted and printed apart (journeys.crash_copies), any other double fails.
    crash_doubles: list[str] = []
    for journey in load.telegram:
        texts = crash_copies(deployment.bot_api, journey.chat, gone_at, CLAIM_LEASE_SECONDS)
        counted = found.get(f"telegram {journey.chat}")
        if counted is None or not texts:
            continue
        # journeys.count names a double by the first 40 characters of its text
        crash = [m for m in counted.doubled if any(repr(t[:40]) in m for t in texts)]
        counted.doubled = [m for m in counted.doubled if m not in crash]
        crash_doubles += [f"telegram {journey.chat}: {m}" for m in crash]
    found.update({f"web {j.sender}": web_count(deployment, j) for j in load.web
                  if "minsheng_resident" in j.http.cookies})
    lost = [f"{who}: {m}" for who, c in found.items() for m in c.lost]
    doubled = [f"{who}: {m}" for who, c in found.items() for m in c.doubled]
    unanswered = [f"{who}: {m}" for who, c in found.items() for m in c.unanswered]
    confirmed = [j.case_no for j in load.web + load.telegram if j.case_no]
    cases = deployment.query("SELECT count(*) FROM cases")[0][0]
    window = window_end - killed_at
    print(f"\njourneys: {len(load.web)} web, {len(load.telegram)} telegram; confirmed "
          f"{len(confirmed)}, cases in PostgreSQL {cases}; turns answered "
          f"{len(load.turns.answered)} (sends that failed and were sent again: "
          f"{load.turns.errors})")
    print(f"killed {', '.join(VICTIMS)}; back after " + ", ".join(
        f"{n} {s:.1f} s" for n, s in back.items()) + f"; {VICTIMS[0]} restarted, "
          + ("still loading its model" if rasa_down else "answering") + " at the window's end")
    print(f"{window:.1f} s after the kills: {during} turns answered ({during / window:.2f}/s, "
          f"p95 {p95(load.turns.latencies(killed_at, window_end)) or 0:.2f} s)")
    print(f"lost {len(lost)}, doubled {len(doubled)}, unanswered {len(unanswered)}, "
          f"journeys stopped {len(load.failures)}; sent again after the gateway's crash "
          f"{len(crash_doubles)} {crash_doubles}")

    assert not load.failures, load.failures[:5]
    # when a double is not a crash copy, say when each copy went (s after the kills)
    timings = {j.chat: sends_after(deployment.bot_api, j.chat, killed_at)
               for j in load.telegram if any(f"telegram {j.chat}:" in m for m in doubled)}
    assert (lost, doubled, unanswered) == ([], [], []), (lost[:5], doubled[:5], unanswered[:5],
                                                         timings)
    assert len(set(confirmed)) == len(confirmed) == cases, (len(confirmed), cases)
    assert during > 0, "no turn was answered while one replica of each kind was down"
    for name, pid in old.items():
        assert topology.pid(name) not in (0, pid), f"{name} was not restarted"
