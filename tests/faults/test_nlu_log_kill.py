"""Rasa killed (kill -9) while a message's NLU log row is still in its queue: the restarted
Rasa logs it from the tracker store (nlu/message_log.py), once. The real stack on SQLite
under supervisord, as tests/faults/test_faults.py runs it."""
from __future__ import annotations

import pytest

from tests.e2e.harness import rasa_budget, rest_turn, wait_until
from tests.faults.stack import running_stack

pytestmark = [pytest.mark.faults, pytest.mark.slow]

LOCK_SECONDS = 15.0  # under the writer's busy timeout (30 s): it waits, it does not fail


@pytest.fixture(scope="module")
def stack(tmp_path_factory, served_model):
    with running_stack(tmp_path_factory.mktemp("faults-nlu-log"), served_model) as built:
        yield built


def logged(stack, sender: str, text: str) -> int:
    return len(stack.query("SELECT id FROM nlu_messages WHERE sender = ? AND text = ?",
                           sender, text))


def test_a_message_rasa_had_queued_for_the_nlu_log_when_killed_is_logged_after_its_restart(
        stack, logs_on_failure):
    rasa = f"http://127.0.0.1:{stack.ports.rasa}"
    sender = "web:nlu-log-kill"
    lock = stack.hold_write_lock(LOCK_SECONDS)  # the case database busy: the row waits
    assert rest_turn(rasa, sender, "你好")  # answered and stored all the same (a greeting
    assert stack.tracker_query(             # needs no custom action)
        "SELECT 1 FROM events WHERE sender_id = ? AND type_name = 'user'", sender)
    old = stack.kill("rasa")  # its writer still waits for the lock
    lock.join()
    assert logged(stack, sender, "你好") == 0  # lost with the process
    stack.wait_back("rasa", old, rasa_budget() + 60)
    rest_turn(rasa, sender, "您好")  # the new Rasa's first message starts its writer
    wait_until(lambda: logged(stack, sender, "您好"), 60, "the new message logged")
    wait_until(lambda: logged(stack, sender, "你好"), 60, "the lost message logged")
    assert logged(stack, sender, "你好") == logged(stack, sender, "您好") == 1
