"""The fault suite's counting of doubles: BUSY told again with no answer in between."""
from __future__ import annotations

from bot import render
from tests.botapi.server import Call
from tests.faults.journeys import told_busy_again


def said(*texts: str) -> list[Call]:
    return [Call("sendMessage", {"chat_id": 1, "text": t}) for t in texts]


def test_busy_twice_while_waiting_is_a_double_and_busy_after_an_answer_is_not():
    assert told_busy_again(said(render.BUSY, "请问问题发生在哪里？")) == 0
    assert told_busy_again(said(render.BUSY, render.BUSY)) == 1
    # the wait notice is no answer
    assert told_busy_again(said(render.BUSY, render.WAIT, render.BUSY)) == 1
    # a new outage after the resident was answered: told again, rightly
    assert told_busy_again(said(render.BUSY, "已受理！", render.BUSY, "好的")) == 0


def test_a_crash_copy_is_the_row_sent_before_the_kill_and_again_after_its_lease():
    from tests.faults.journeys import crash_copies

    def at(text: str, when: float) -> Call:
        return Call("sendMessage", {"chat_id": 1, "text": text}, at=when)

    class Api:
        def __init__(self, calls): self.calls = calls
        def sent_to(self, chat): return self.calls

    killed, lease = 100.0, 120.0
    assert crash_copies(Api([at("已受理", 99.5), at("已受理", 220.0)]), 1, killed, lease) == {
        "已受理"}
    # sent twice within moments of each other: a real double, not the crash's copy
    assert crash_copies(Api([at("已受理", 99.5), at("已受理", 101.0)]), 1, killed, lease) == set()
    # a request written just before the kill, timed by the fake server a moment after it
    assert crash_copies(Api([at("已受理", 100.4), at("已受理", 221.0)]), 1, killed, lease) == {
        "已受理"}
    # the first copy after the kill: not the dead gateway's
    assert crash_copies(Api([at("已受理", 130.0), at("已受理", 260.0)]), 1, killed, lease) == set()
