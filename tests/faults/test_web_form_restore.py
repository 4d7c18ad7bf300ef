"""The web chat's form restore with a really killed action server, on the supervised stack.

A resident on the web chat answers the report form up to its confirmation; the action
server is killed with SIGKILL (supervisord restarts it) and the resident presses 确认提交
at once. Rasa submits the form, the action opening the case cannot run, and Rasa answers
nothing: the web chat keeps the press (the resident is told ``BUSY`` once), and when the
page polls again it reads Rasa's tracker, puts the form back to its confirmation
(bot.core.replay) and sends the press again — one case opened, its number told once.
"""
from __future__ import annotations

import pytest

from bot.core.texts import BUSY, NO_REPLY
from tests.e2e.harness import CASE_NO, WebChatResident, button_titles, wait_until
from tests.faults.journeys import CHOICES, REPORT_TEXT
from tests.faults.stack import running_stack

pytestmark = [pytest.mark.faults, pytest.mark.slow]

TURN = 120.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory, served_model):
    with running_stack(tmp_path_factory.mktemp("faults-web"), served_model) as built:
        yield built


def test_a_confirmation_pressed_while_the_action_server_is_killed_opens_one_case(
        stack, logs_on_failure):
    page = WebChatResident(f"http://127.0.0.1:{stack.ports.web}", TURN)
    replies = page.say(REPORT_TEXT)
    for _ in range(8):  # the form, up to its confirmation
        if "确认提交" in button_titles(replies):
            break
        replies = page.press(replies, next(c for c in CHOICES if c in button_titles(replies)))
    assert "确认提交" in button_titles(replies), [m["text"] for m in replies]

    old = stack.kill("actions")
    answered = page.press(replies, "确认提交")
    # the action server is still starting when Rasa runs the submit: kept, told once
    assert [m["text"] for m in answered] == [BUSY]
    wait_until(lambda: CASE_NO.search(" ".join(m["text"] for m in page.news())), TURN,
               "the case number after the action server is back", interval=1.0)
    stack.wait_back("actions", old, 60)

    case_nos = {no for text in page.seen for no in CASE_NO.findall(text)}
    opened = stack.query("SELECT case_no FROM cases WHERE channel = 'web'")
    assert len(opened) == 1 and case_nos == {opened[0][0]}, (opened, page.seen)
    assert page.seen.count(BUSY) <= 1 and NO_REPLY not in page.seen, page.seen
    unanswered = stack.query("SELECT count(*) FROM inbound_messages "
                             "WHERE channel = 'web' AND processed_at IS NULL")
    assert unanswered == [(0,)]
