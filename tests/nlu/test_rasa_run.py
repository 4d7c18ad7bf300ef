"""nlu/rasa_run.py: Rasa still validates every action-server reply, with the same outcome."""
from __future__ import annotations

import jsonschema
import pytest

from nlu import rasa_run

GOOD = {"events": [{"event": "slot", "name": "place", "value": "幸福里小区3号楼"},
                   {"event": "active_loop", "name": "report_form"}],
        "responses": [{"text": "请留个电话", "buttons": [{"title": "跳过", "payload": "/skip"}]}]}
BAD = [{"events": [{"event": "slot", "value": "no name"}]},  # a slot event needs its name
       {"events": [{"event": "no_such_event"}]},
       {"responses": "not a list"}]


@pytest.fixture(scope="module")
def spec():
    from rasa.core.actions.action import RemoteAction

    return RemoteAction.action_response_format_spec()


@pytest.mark.parametrize("reply", [GOOD, *BAD])
def test_the_cached_validator_judges_a_reply_as_jsonschema_validate_does(reply, spec):
    try:
        jsonschema.validate(reply, spec)
        expected = None
    except jsonschema.ValidationError as error:
        expected = error.message
    try:
        assert rasa_run.validate_action_reply(None, reply) is True
        got = None
    except jsonschema.ValidationError as error:
        got = error.message
    assert (got is None) == (expected is None)
    if expected is not None:
        assert got.startswith(expected + ". Failed to validate Action server response")


def test_rasa_started_through_the_wrapper_uses_the_cached_validator():
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.domain import Domain

    original = RemoteAction._validate_action_result
    original_states = Domain.states_for_tracker_history
    try:
        rasa_run.install()
        assert Domain.states_for_tracker_history is not original_states  # nlu/prior_states.py
        action = RemoteAction("action_open_case", None)
        assert action._validate_action_result(GOOD) is True
        with pytest.raises(jsonschema.ValidationError):
            action._validate_action_result(BAD[0])
        assert rasa_run.action_reply_validator.cache_info().currsize == 1
    finally:
        RemoteAction._validate_action_result = original
        Domain.states_for_tracker_history = original_states
