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
