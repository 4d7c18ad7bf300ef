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
    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.domain import Domain
    from rasa.utils.endpoints import EndpointConfig

    from nlu import split_at_parse

    original = RemoteAction._validate_action_result
    original_parse = MessageProcessor.parse_message
    original_states = Domain.states_for_tracker_history
    original_session = EndpointConfig.session
    try:
        rasa_run.install()
        assert Domain.states_for_tracker_history is not original_states  # nlu/prior_states.py
        assert EndpointConfig.session is not original_session  # nlu/kept_sessions.py
        assert MessageProcessor.parse_message is split_at_parse.parse_message
        action = RemoteAction("action_open_case", None)
        assert action._validate_action_result(GOOD) is True
        with pytest.raises(jsonschema.ValidationError):
            action._validate_action_result(BAD[0])
        assert rasa_run.action_reply_validator.cache_info().currsize == 1
    finally:
        RemoteAction._validate_action_result = original
        Domain.states_for_tracker_history = original_states
        EndpointConfig.session = original_session
        MessageProcessor.parse_message = original_parse


def reply_corpus() -> list:
    """Replies with one event of every kind Rasa knows, and each of them broken in every key:
    removed, or set to a number, None, a string, a list, an object."""
    from datetime import datetime

    from rasa.shared.core import events as e

    samples = [
        e.UserUttered("楼道灯坏了", {"name": "report_safety_hazard", "confidence": 0.9},
                      [{"entity": "place", "value": "3号楼", "start": 0, "end": 3}]),
        e.ActionExecuted("action_open_case", policy="RulePolicy", confidence=1.0),
        e.SlotSet("place", "幸福里3号楼"), e.EntitiesAdded([{"entity": "phone", "value": "1"}]),
        e.ReminderScheduled("rating_reminder", datetime(2026, 12, 7, 9, 0), name="r1"),
        e.ReminderCancelled(name="r1"), e.ActionExecutionRejected("report_form"),
        e.LoopInterrupted(True), e.ActiveLoop("report_form"), e.AllSlotsReset(),
        e.ConversationResumed(), e.ConversationPaused(), e.FollowupAction("action_listen"),
        e.StoryExported(), e.Restarted(), e.UserUtteranceReverted(), e.ActionReverted(),
        e.BotUttered("已受理", {"buttons": [{"title": "好", "payload": "/affirm"}]}),
        e.SessionStarted(), e.AgentUttered("hi"), e.DefinePrevUserUtteredFeaturization(True),
    ]
    replies = [{"events": [s.as_dict()], "responses": []} for s in samples]
    replies.append({"events": [s.as_dict() for s in samples],
                    "responses": [{"text": "好", "buttons": []}]})
    for sample in samples:
        event = sample.as_dict()
        for key in event:
            replies.append({"events": [{k: v for k, v in event.items() if k != key}]})
            for value in (5, None, "x", [], {}, 0.5, True):
                replies.append({"events": [{**event, key: value}]})
    replies += [{}, {"events": None}, {"events": "slot"}, {"events": [None]}, {"events": [[]]},
                {"events": [{"event": "form", "name": None}]}, {"responses": [1]}, [], None]
    return replies


def test_the_split_schema_judges_every_reply_as_the_whole_schema_does():
    whole = rasa_run.action_reply_validator()
    replies = reply_corpus()
    verdicts = [whole.is_valid(reply) for reply in replies]
    assert sum(verdicts) > 50 and verdicts.count(False) > 50  # both kinds, many of each
    for reply, valid in zip(replies, verdicts):
        assert rasa_run.fits_reply_schema(reply) == valid, reply
