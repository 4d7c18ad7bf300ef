"""The same journeys on the scale-out stores, with a server restarted mid-journey.

Cases and Rasa's trackers in PostgreSQL; Rasa's lock store and our shared state (throttles,
button tokens, chat locks: MINSHENG_SHARED_STATE_URL) in Redis — private servers in a temp dir on spare ports (tests/faults/servers.py), so a
restart never disturbs the shared ones. Each server is stopped for a few seconds (every
connection cut) and started again right after a resident's mid-form message is stored,
and right after the staff member's 签收 press; the rows join the session's fault table.
"""
from __future__ import annotations

import pytest

from tests.faults import servers
from tests.faults.stack import running_stack
from tests.faults.test_faults import SERVERS, run_case

pytestmark = [pytest.mark.faults, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, served_model):
    missing = servers.available()
    if missing:
        pytest.skip(missing)
    with running_stack(tmp_path_factory.mktemp("faults-servers"), served_model,
                       servers=True) as built:
        yield built


CASES = [(server, step, True) for server in SERVERS for step in ("middle", "ack")]


@pytest.mark.parametrize("fault,step,staff", CASES, ids=[f"{f}-{s}" for f, s, _ in CASES])
def test_the_journey_survives_a_server_restart_with_nothing_lost_or_doubled(
        stack, table, logs_on_failure, fault, step, staff):
    run_case(stack, table, fault, step, staff)
