"""nlu/prior_states.py: the states worked out from where the tracker was last asked are Rasa's
own, on every prefix of every story, rule and test story, asked on one growing tracker."""
from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from nlu import prior_states

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["data/stories", "data/rules", "tests/test_stories.yml"]
FLAGS = list(itertools.product([False, True], repeat=2))  # omit_unset_slots, ignore_rule_only


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture(scope="module")
def rule_only_data(domain) -> dict:
    # real names, as RulePolicy's lookup would hold them: a form and two of its slots
    return {"rule_only_slots": ["photos_done", "confirm"], "rule_only_loops": ["withdraw_form"]}


def story_events(domain: Domain) -> list[tuple[str, list]]:
    from rasa.core.training import load_data

    found = []
    for source in SOURCES:
        for tracker in load_data(str(ROOT / source), domain, augmentation_factor=0,
                                 remove_duplicates=False):
            found.append((f"{source}:{tracker.sender_id}", list(tracker.events)))
    return found


def with_rule_turns(events: list) -> list:
    """The same events with every other action marked as a rule-only turn, as RulePolicy's
    predictions are in a live conversation (stories carry no such marks)."""
    marked, actions = [], 0
    for event in events:
        if isinstance(event, ActionExecuted) and event.action_name != "action_listen":
            actions += 1
            event = ActionExecuted(event.action_name, event.policy, event.confidence,
                                   event.timestamp, event.metadata,
                                   action_text=event.action_text,
                                   hide_rule_turn=actions % 2 == 0)
        marked.append(event)
    return marked


def assert_same_on_every_prefix(domain, events, rule_only_data, name) -> None:
    """One tracker grows event by event; after each, every variant of the question is
    answered by both and compared (interleaved, as the policies of a turn ask them)."""
    tracker = DialogueStateTracker("grow", domain.slots)
    for n, event in enumerate(events):
        tracker.update(event)
        for omit, ignore in FLAGS:
            for rod in (None, rule_only_data, dict(rule_only_data)):
                ours = prior_states.states_for_tracker_history(domain, tracker, omit, ignore, rod)
                rasa = prior_states._original(domain, tracker, omit, ignore, rod)
                assert ours == rasa, f"{name}, after event {n} ({event}), flags {omit, ignore}"


def test_every_prefix_of_every_story_gets_rasas_states(domain, rule_only_data):
    stories = story_events(domain)
    assert len(stories) > 50  # the stories, rules and test stories were read
    loop_turns = 0
    for name, events in stories:
        assert_same_on_every_prefix(domain, events, rule_only_data, name)
        assert_same_on_every_prefix(domain, with_rule_turns(events), rule_only_data, name)
        loop_turns += sum(isinstance(e, ActionExecuted) and e.action_name == "report_form"
                          for e in events)
    assert loop_turns > 20


def test_a_form_asking_slot_after_slot_is_followed(domain, rule_only_data):
    # Rasa's applied events drop the previous turn of a form on its happy path: the prefix
    # asked before is no longer a prefix
    def user(text, intent):
        return UserUttered(text, {"name": intent, "confidence": 1.0})

    events = [ActionExecuted("action_listen"), user("楼道灯坏了", "report_safety_hazard"),
              ActionExecuted("report_form"), ActiveLoop("report_form"),
              SlotSet("description", "楼道灯坏了"), SlotSet("requested_slot", "category"),
              ActionExecuted("action_listen"), user("/choose_category", "choose_category"),
              ActionExecuted("report_form"), SlotSet("category", "safety_hazard"),
              SlotSet("requested_slot", "place"), ActionExecuted("action_listen"),
              user("幸福里3号楼", "provide_place"), ActionExecuted("report_form"),
              SlotSet("place", "幸福里3号楼"), SlotSet("requested_slot", "phone"),
              ActionExecuted("action_listen"), user("跳过", "skip"),
              ActionExecuted("report_form"), ActiveLoop(None),
              SlotSet("requested_slot", None), ActionExecuted("action_open_case"),
              ActionExecuted("action_listen")]
    tracker = DialogueStateTracker("form", domain.slots)
    dropped = 0
    for event in events:
        before = tracker.applied_events()
        tracker.update(event)
        dropped += len(tracker.applied_events()) <= len(before)
    assert dropped >= 3  # the form's turns really were dropped from the applied events
    assert_same_on_every_prefix(domain, events, rule_only_data, "form")
    assert_same_on_every_prefix(domain, with_rule_turns(events), rule_only_data, "form, rules")


def test_reverts_and_a_new_session_are_followed(domain, rule_only_data):
    greet = UserUttered("你好", {"name": "greet", "confidence": 1.0})
    events = [ActionExecuted("action_session_start"), SessionStarted(),
              ActionExecuted("action_listen"), greet, ActionExecuted("utter_greet"),
              SlotSet("place", "幸福里小区3号楼"), ActionExecuted("action_listen"),
              UserUttered("查进度", {"name": "check_status", "confidence": 1.0}),
              UserUtteranceReverted(), ActionExecuted("action_listen"), greet,
              ActionExecuted("utter_greet"), ActionReverted(), ActionExecuted("action_listen"),
              SessionStarted(), ActionExecuted("action_listen"), greet]
    assert_same_on_every_prefix(domain, events, rule_only_data, "reverts")


def test_callers_get_their_own_copies(domain):
    tracker = DialogueStateTracker("copies", domain.slots)
    for event in [ActionExecuted("action_listen"),
                  UserUttered("你好", {"name": "greet", "confidence": 1.0}),
                  ActionExecuted("utter_greet"), ActionExecuted("action_listen")]:
        tracker.update(event)
    first = prior_states.states_for_tracker_history(domain, tracker)
    for state in first:  # as the featurisers edit states in place
        for sub_state in state.values():
            sub_state.clear()
    again = prior_states.states_for_tracker_history(domain, tracker)
    assert again == prior_states._original(domain, tracker) and again[1]["user"]


def test_the_second_question_does_not_replay_the_conversation(domain, monkeypatch):
    tracker = DialogueStateTracker("counted", domain.slots)
    for i in range(30):
        tracker.update(ActionExecuted("action_listen"))
        tracker.update(UserUttered(f"你好{i}", {"name": "greet", "confidence": 1.0}))
        tracker.update(ActionExecuted("utter_greet"))
    prior_states.states_for_tracker_history(domain, tracker)
    built = []
    original = Domain.get_active_state
    monkeypatch.setattr(Domain, "get_active_state",
                        lambda self, *a, **k: built.append(1) or original(self, *a, **k))
    tracker.update(ActionExecuted("action_listen"))
    prior_states.states_for_tracker_history(domain, tracker)
    assert len(built) == 2  # the new action's state and the state now, not 92


def test_install_replaces_rasas_method_for_the_serving_process():
    original = Domain.states_for_tracker_history
    try:
        prior_states.install()
        assert Domain.states_for_tracker_history is prior_states.states_for_tracker_history
    finally:
        Domain.states_for_tracker_history = original


def test_the_applied_events_are_worked_out_again_only_after_a_new_event(domain, monkeypatch):
    tracker = DialogueStateTracker("applied", domain.slots)
    calls = []
    original = DialogueStateTracker.applied_events
    monkeypatch.setattr(DialogueStateTracker, "applied_events",
                        lambda self: calls.append(1) or original(self))
    tracker.update(ActionExecuted("action_listen"))
    tracker.update(UserUttered("你好", {"name": "greet", "confidence": 1.0}))
    for omit, ignore in FLAGS:  # the questions of one prediction
        prior_states.states_for_tracker_history(domain, tracker, omit, ignore)
    assert len(calls) == 1
    tracker.update(ActionExecuted("utter_greet"))
    assert prior_states.states_for_tracker_history(domain, tracker) == \
        prior_states._original(domain, tracker)
    assert len(calls) == 3  # ours once more after the new event, and the original's
