"""``rasa run`` with per-turn costs removed and a model swap that does not stop the
replica: ``python -m nlu.rasa_run`` takes the same arguments as ``rasa run``
(minsheng/processes.py and the test harness start Rasa with it).

A new model (PUT /model or a pull from the model server) is loaded in a thread while the
old one keeps answering: nlu/model_loading.py.

Rasa checks every reply of the action server with ``jsonschema.validate(reply, spec)``
(``RemoteAction._validate_action_result``). That call checks the schema itself against the
JSON Schema metaschema and builds a new validator each time: about 15 ms per action call on
our machine, most of it for a schema that never changes (issue 15's profile: 18 % of the
Rasa process under load). Here the validator is built and the schema checked once, and a
reply is checked against the schema split at its events' ``oneOf`` (``fits_reply_schema``:
0.4 ms instead of 4.0 for a reply of 21 events); every reply is still judged as the whole
schema judges it, and a bad one fails with the same error.
Nothing inside the virtualenv is edited: the method is replaced when this module starts Rasa.

A tracker's state for the action server does not deep-copy its form's trigger message
(nlu/tracker_state.py); the rules that apply to a conversation's states are remembered
(nlu/rule_keys.py). The policies' past states are worked out from where the tracker was last
asked instead of from the session's first event (nlu/prior_states.py), and calls to the
action server reuse their connections (nlu/kept_sessions.py).
"""
from __future__ import annotations

import functools
import sys
from typing import Any


@functools.lru_cache(maxsize=1)
def action_reply_validator():
    """The validator of Rasa's action-server reply schema, built once."""
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    spec = RemoteAction.action_response_format_spec()
    validator_class = validator_for(spec)
    validator_class.check_schema(spec)
    return validator_class(spec)


@functools.lru_cache(maxsize=1)
def reply_validators_by_event():
    """The reply schema split where it branches: the reply without its events' ``oneOf``, and
    for each event name the event schema with the one branch whose ``const`` is that name.

    Each event of a reply was checked against all 23 branches of the ``oneOf`` (one per event
    name) to find that exactly one fits: that was most of the validation's time (8 % of the
    Rasa process in a web chat turn). The branches differ in their ``event`` const, so an event
    fits exactly one branch if and only if it fits the branch of its own name.
    """
    import copy

    spec = action_reply_validator().schema
    validator_class = type(action_reply_validator())
    item = spec["properties"]["events"]["items"]
    frame = copy.deepcopy(spec)
    frame["properties"]["events"] = {"type": "array"}
    base = {key: value for key, value in item.items() if key != "oneOf"}
    by_event = {}
    for branch in item["oneOf"]:
        by_event[branch["properties"]["event"]["const"]] = validator_class(
            {**base, "allOf": [branch]})
    return validator_class(frame), by_event


def fits_reply_schema(result: Any) -> bool:
    """True when ``result`` is valid under Rasa's reply schema (by the split schema)."""
    frame, by_event = reply_validators_by_event()
    if not frame.is_valid(result):
        return False
    for event in result.get("events") or []:
        name = event.get("event") if isinstance(event, dict) else None
        validator = by_event.get(name) if isinstance(name, str) else None
        if validator is None or not validator.is_valid(event):
            return False
    return True


def validate_action_reply(self, result: dict[str, Any]) -> bool:
    """RemoteAction._validate_action_result with the validators built once (same errors)."""
    from jsonschema.exceptions import best_match
    from rasa.shared.constants import DOCS_BASE_URL

    if fits_reply_schema(result):
        return True
    # a bad reply: the whole schema's most relevant error, as jsonschema.validate gives it
    error = best_match(action_reply_validator().iter_errors(result))
    if error is not None:
        # Rasa's own wording, so a log reads the same as with the original method.
        error.message += (
            f". Failed to validate Action server response from API, "
            f"make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit "
            f"{DOCS_BASE_URL}/custom-actions"
        )
        raise error
    return True


def install() -> None:
    from rasa.core.actions.action import RemoteAction

    from nlu import (
        event_types,
        graph_runner,
        kept_sessions,
        model_loading,
        prior_states,
        rule_keys,
        slot_copies,
        split_at_parse,
        tracker_state,
    )

    RemoteAction._validate_action_result = validate_action_reply
    event_types.install()
    slot_copies.install()
    tracker_state.install()
    graph_runner.install()
    model_loading.install()
    prior_states.install()
    rule_keys.install()
    kept_sessions.install()
    split_at_parse.install()


def main(argv: list[str] | None = None) -> None:
    install()
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", "run", *(sys.argv[1:] if argv is None else argv)]
    rasa_main()


if __name__ == "__main__":
    main()
