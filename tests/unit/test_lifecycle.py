"""The state machine, spelled out independently of minsheng.lifecycle's own table."""
from __future__ import annotations

import pytest

from minsheng.enums import CaseState
from minsheng.errors import IllegalTransition
from minsheng.lifecycle import TRANSITIONS, target_state

S = CaseState
OPEN = [S.new, S.assigned, S.acknowledged, S.in_progress, S.reopened]

# (action, from) → to; anything not listed (and not a no-op below) must be refused.
LEGAL = {
    ("route", S.new): S.new,
    ("assign", S.new): S.assigned,
    ("acknowledge", S.assigned): S.acknowledged,
    ("acknowledge", S.reopened): S.acknowledged,
    ("progress", S.acknowledged): S.in_progress,
    ("progress", S.in_progress): S.in_progress,
    ("resolve", S.acknowledged): S.resolved,
    ("resolve", S.in_progress): S.resolved,
    ("return", S.assigned): S.assigned,
    ("return", S.acknowledged): S.assigned,
    ("return", S.reopened): S.assigned,
    ("rate", S.resolved): S.closed,
    ("rate_dissatisfied", S.resolved): S.reopened,
    ("close", S.resolved): S.closed,
    **{(action, state): S.assigned for action in ("escalate", "overdue", "reassign")
       for state in OPEN},
    **{("withdraw", state): S.withdrawn for state in OPEN},
    **{("merge", state): S.merged for state in OPEN},
    **{("add_info", state): state for state in OPEN},
    # 催办, 延期 decisions and 加签 keep the state of any open case
    **{(action, state): state for action in ("urge", "approve_extension",
                                             "refuse_extension", "cosign")
       for state in OPEN},
    ("request_extension", S.acknowledged): S.acknowledged,
    ("request_extension", S.in_progress): S.in_progress,
}
NO_OP = {("acknowledge", S.acknowledged), ("acknowledge", S.in_progress),
         ("resolve", S.resolved), ("withdraw", S.withdrawn), ("close", S.closed),
         ("merge", S.merged)}
EVERY = [(action, state) for action in TRANSITIONS for state in CaseState]


@pytest.mark.parametrize(("action", "state"), [p for p in EVERY if p in LEGAL])
def test_a_legal_transition_reaches_its_target(action, state):
    assert target_state(action, state) == LEGAL[(action, state)]


@pytest.mark.parametrize(("action", "state"), sorted(NO_OP))
def test_repeating_a_done_action_is_a_no_op(action, state):
    assert target_state(action, state) is None


@pytest.mark.parametrize(("action", "state"),
                         [p for p in EVERY if p not in LEGAL and p not in NO_OP])
def test_every_other_transition_is_illegal(action, state):
    with pytest.raises(IllegalTransition) as raised:
        target_state(action, state, "MS-20261122-0001")
    assert "MS-20261122-0001" in str(raised.value) and "不能" in str(raised.value)


def test_terminal_states_allow_nothing_but_their_own_no_op():
    for state in (S.closed, S.withdrawn, S.merged):
        allowed = [a for a in TRANSITIONS if state in TRANSITIONS[a].sources]
        assert allowed == []
