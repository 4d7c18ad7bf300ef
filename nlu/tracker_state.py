"""A tracker's state for the action server without a deep copy of its form's trigger message.

``DialogueStateTracker.current_state`` writes the active loop with ``dataclasses.asdict``,
which deep-copies the loop's ``trigger_message`` — the whole parse of the message that
started the form (intent ranking, entities, metadata). Rasa calls it for every call to the
action server, and while a report form runs every turn calls it at least once: 4 % of the
Rasa process's CPU under 20 web chat clients (py-spy, stop 19). Every caller in Rasa turns
the state into JSON at once (the action call, the HTTP API, the tracker stores), so the
state's active loop is built here as a new dict holding the same values: equal to Rasa's,
the trigger message shared, not copied. Installed by nlu/rasa_run.py.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from rasa.shared.core.constants import ACTIVE_LOOP
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity, TrackerActiveLoop

_rasa_current_state = DialogueStateTracker.current_state
_LOOP_FIELDS = tuple(f.name for f in dataclasses.fields(TrackerActiveLoop))


def current_state(self: DialogueStateTracker,
                  event_verbosity: EventVerbosity = EventVerbosity.NONE) -> dict[str, Any]:
    loop = self.active_loop
    self.active_loop = None  # Rasa's method writes {} for it: no copy made
    try:
        state = _rasa_current_state(self, event_verbosity)
    finally:
        self.active_loop = loop
    if loop is not None:
        state[ACTIVE_LOOP] = {name: getattr(loop, name) for name in _LOOP_FIELDS}
    return state


def install() -> None:
    DialogueStateTracker.current_state = current_state


def uninstall() -> None:
    DialogueStateTracker.current_state = _rasa_current_state
