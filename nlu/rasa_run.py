"""``rasa run`` with two per-turn costs removed and a model swap that does not stop the
replica: ``python -m nlu.rasa_run`` takes the same arguments as ``rasa run``
(minsheng/processes.py and the test harness start Rasa with it).

A new model (PUT /model or a pull from the model server) is loaded in a thread while the
old one keeps answering: nlu/model_loading.py.

Rasa checks every reply of the action server with ``jsonschema.validate(reply, spec)``
(``RemoteAction._validate_action_result``). That call checks the schema itself against the
JSON Schema metaschema and builds a new validator each time: about 15 ms per action call on
our machine, most of it for a schema that never changes (issue 15's profile: 18 % of the
Rasa process under load). Here the validator is built and the schema checked once; every
reply is still validated against the same schema and a bad one fails with the same error.
Nothing inside the virtualenv is edited: the method is replaced when this module starts Rasa.

The policies' past states are worked out from where the tracker was last asked instead of
from the session's first event: nlu/prior_states.py.
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


def validate_action_reply(self, result: dict[str, Any]) -> bool:
    """RemoteAction._validate_action_result with the validator built once (same errors)."""
    from jsonschema.exceptions import best_match
    from rasa.shared.constants import DOCS_BASE_URL

    # as jsonschema.validate does after building its validator: the most relevant error
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

    from nlu import model_loading, prior_states

    RemoteAction._validate_action_result = validate_action_reply
    model_loading.install()
    prior_states.install()


def main(argv: list[str] | None = None) -> None:
    install()
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", "run", *(sys.argv[1:] if argv is None else argv)]
    rasa_main()


if __name__ == "__main__":
    main()
