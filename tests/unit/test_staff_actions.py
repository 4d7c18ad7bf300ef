"""The one table of staff actions agrees with the lifecycle, in every state, on every channel."""
from __future__ import annotations

import pytest

from minsheng import staff_actions
from minsheng.enums import CaseState
from minsheng.errors import IllegalTransition, InvalidInput
from minsheng.lifecycle import TRANSITIONS, target_state

CHANNELS = (staff_actions.TELEGRAM, staff_actions.CONSOLE, staff_actions.API)
# Lifecycle rows no staff member triggers from a channel: the system, residents, or merging
# duplicates (a service without a button yet). A new row must be put here or in the table.
NOT_STAFF_BUTTONS = {"route", "assign", "overdue", "withdraw", "add_info", "rate",
                     "rate_dissatisfied", "close", "merge"}


def accepted(action: str, state: CaseState) -> bool:
    """The lifecycle moves the case (not refused, not a repeated no-op)."""
    try:
        return target_state(action, state) is not None
    except IllegalTransition:
        return False


def offered_anywhere(state: CaseState) -> set[str]:
    """Offered to someone: the owner, a supervisor or a co-handler, with or without a
    延期 request waiting."""
    case = type("Case", (), {"state": state})
    return {a.key for channel in CHANNELS
            for relation in ("owner", "supervisor", "cohandler")
            for a in staff_actions.offered_to(case, channel, relation, office=True,
                                              pending_extension=True)}


def test_every_lifecycle_row_is_either_a_staff_action_or_deliberately_not_one():
    assert set(staff_actions.STAFF_ACTIONS) | NOT_STAFF_BUTTONS == set(TRANSITIONS)
    assert not set(staff_actions.STAFF_ACTIONS) & NOT_STAFF_BUTTONS


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("state", list(CaseState))
def test_every_action_offered_in_a_state_is_accepted_by_the_lifecycle(state, channel):
    for office in (False, True):
        for action in staff_actions.offered(state, channel, office=office):
            assert accepted(action.key, state), (action.key, state, channel)


@pytest.mark.parametrize("state", list(CaseState))
def test_nothing_the_lifecycle_accepts_from_staff_is_missing_from_the_offer(state):
    lifecycle_allows = {key for key in staff_actions.STAFF_ACTIONS if accepted(key, state)}
    assert offered_anywhere(state) == lifecycle_allows


def test_the_five_staff_buttons_are_offered_on_telegram_the_console_and_the_api():
    for key in ("acknowledge", "progress", "resolve", "escalate", "return"):
        assert set(CHANNELS) <= staff_actions.STAFF_ACTIONS[key].channels, key


def test_acknowledge_is_not_offered_on_a_new_case_which_the_lifecycle_refuses():
    assert "acknowledge" not in {a.key for a in staff_actions.offered(
        CaseState.new, staff_actions.TELEGRAM)}
    assert [a.label for a in staff_actions.offered(CaseState.assigned, staff_actions.TELEGRAM)] \
        == ["签收", "上报", "退回", "加签"]


def test_reassign_is_offered_only_to_office_logins_and_not_on_telegram():
    state = CaseState.acknowledged
    assert "reassign" not in {a.key for a in staff_actions.offered(state, "console")}
    assert "reassign" in {a.key for a in staff_actions.offered(state, "console", office=True)}
    assert "reassign" not in {a.key for a in staff_actions.offered(
        state, staff_actions.TELEGRAM, office=True)}


@pytest.mark.parametrize("key", ["progress", "resolve", "request_extension"])
def test_an_action_that_needs_a_note_is_refused_without_one_before_any_service_runs(key):
    request = staff_actions.Request("MS-20261122-0001", 1, note="   ")
    with pytest.raises(InvalidInput, match=staff_actions.STAFF_ACTIONS[key].note_label):
        staff_actions.perform(None, key, request)  # no unit of work: it must not be reached


@pytest.mark.parametrize(("code", "note", "message"), [
    (None, "", "请选择退单原因"), ("lost", "", "请选择退单原因"),
    ("other", "  ", "请写明具体原因"),
])
def test_a_return_needs_a_known_reason_code_and_other_needs_a_note(code, note, message):
    request = staff_actions.Request("MS-20261122-0001", 1, note=note, reason_code=code)
    with pytest.raises(InvalidInput, match=message):
        staff_actions.perform(None, "return", request)


@pytest.mark.parametrize("days", ["0", "31", "三天", "-2"])
def test_an_extension_needs_one_to_thirty_days(days):
    request = staff_actions.Request("MS-20261122-0001", 1, note="等待配件", days=days)
    with pytest.raises(InvalidInput, match="天"):
        staff_actions.perform(None, "request_extension", request)


def test_an_unknown_action_is_refused_in_chinese():
    with pytest.raises(staff_actions.UnknownAction, match="没有「delete」这个操作"):
        staff_actions.perform(None, "delete", staff_actions.Request("MS-20261122-0001", 1))
