"""nlu/tracker_state.py: a tracker's state is Rasa's, its form's trigger message not copied."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    LoopInterrupted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from nlu import tracker_state

ROOT = Path(__file__).resolve().parents[2]
PARSE = {"intent": {"name": "report_problem", "confidence": 0.91},
         "intent_ranking": [{"name": "report_problem", "confidence": 0.91},
                            {"name": "greet", "confidence": 0.04}],
         "entities": [{"entity": "xiaoqu", "value": "幸福里", "start": 0, "end": 3}],
         "text": "幸福里3号楼楼道堆满杂物", "metadata": {"channel": "web"}}


@pytest.fixture(scope="module")
def domain():
    return Domain.load(str(ROOT / "domain.yml"))


def trackers(domain):
    """No form; a form running; a form interrupted; a form ended."""
    start = [ActionExecuted("action_listen"),
             UserUttered(PARSE["text"], PARSE["intent"], PARSE["entities"], PARSE)]
    running = start + [ActionExecuted("report_form"), ActiveLoop("report_form"),
                       SlotSet("requested_slot", "photos_done")]
    interrupted = running + [ActionExecuted("action_listen"),
                             UserUttered("你好", {"name": "greet", "confidence": 0.9}),
                             ActionExecuted("utter_greet"), LoopInterrupted(True)]
    ended = running + [ActiveLoop(None)]
    for events in ([], start, running, interrupted, ended):
        yield DialogueStateTracker.from_events("resident-1", events, domain.slots)


def test_every_state_is_rasas(domain):
    for tracker in trackers(domain):
        for verbosity in EventVerbosity:
            before = tracker_state._rasa_current_state(tracker, verbosity)
            tracker_state.install()
            try:
                after = tracker.current_state(verbosity)
            finally:
                tracker_state.uninstall()
            assert json.dumps(after, sort_keys=True, ensure_ascii=False) == json.dumps(
                before, sort_keys=True, ensure_ascii=False)


def test_the_trigger_message_is_shared_and_the_loop_kept(domain):
    *_, interrupted, _ = trackers(domain)
    loop = interrupted.active_loop
    assert loop is not None and loop.trigger_message and loop.is_interrupted
    tracker_state.install()
    try:
        state = interrupted.current_state(EventVerbosity.ALL)
    finally:
        tracker_state.uninstall()
    assert state["active_loop"]["trigger_message"] is loop.trigger_message
    assert state["active_loop"]["name"] == "report_form"
    assert interrupted.active_loop is loop  # put back after Rasa's method ran
