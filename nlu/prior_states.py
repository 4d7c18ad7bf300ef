"""Rasa's dialogue states of a conversation, worked out once per event instead of once per
prediction.

Before every prediction, MemoizationPolicy and RulePolicy (the latter several times) ask for
the tracker's past states: ``Domain.states_for_tracker_history`` replays every event of the
session into a fresh tracker and builds a state — every slot featurised — before each action.
Each turn has several predictions and the session grows, so this was the largest part of a
REST turn in the Rasa process (32 %, issue 15's profile), and it grows with the conversation.

A state before an action depends only on the events before it. So the work is kept with the
tracker object (nlu/tracker_store.py keeps that object from turn to turn): the events already
replayed, the tracker they were replayed into, and the state before each action. A new call
continues from the longest prefix of the tracker's applied events that is still the same
objects. The applied events are not only appended to: within a form, Rasa's
``applied_events`` drops the previous loop turn, and a revert or a new session drops more.
Those calls replay the unchanged prefix into a new tracker (cheap: no states) and compute
the states after it, which are what the original does for them. The result is equal to the
original's, state for state (tests/nlu/test_prior_states.py compares them on every prefix of
every story and rule); callers get their own copies, since the featurisers edit states in place.

Installed by nlu/rasa_run.py for the serving process only; trackers of other kinds (training's
``TrackerWithCachedStates`` keeps its own cache) go to Rasa's method unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rasa.shared.core import constants
from rasa.shared.core.domain import Domain, State
from rasa.shared.core.events import ActionExecuted, Event
from rasa.shared.core.trackers import DialogueStateTracker

_original = Domain.states_for_tracker_history
_ATTRIBUTE = "_minsheng_prior_states"


@dataclass
class _Step:
    """What the original loop knows after the action at ``position`` of the applied events."""

    position: int
    state: State | None  # None: a rule-only turn the ML view hides
    last_ml_action: Any
    turn_was_hidden: bool


@dataclass
class _Fold:
    domain: Domain
    events: list[Event] = field(default_factory=list)  # the applied events replayed
    replay: DialogueStateTracker | None = None  # the tracker after ``events``
    steps: list[_Step] = field(default_factory=list)


class _Kept(dict):
    """The folds of one tracker, by the question's arguments (``_key``), and its applied
    events as last worked out. A copy of the tracker starts without them: they describe this
    object's events."""

    applied: list[Event] | None = None
    applied_for: tuple | None = None  # (number of events, the last event object)

    def __deepcopy__(self, memo) -> _Kept:
        return _Kept()

    def __copy__(self) -> _Kept:
        return _Kept()


def _key(omit_unset_slots: bool, ignore_rule_only_turns: bool, rule_only_data: Any) -> tuple:
    # RulePolicy builds its rule_only_data anew for each call (equal content is the same
    # question), and it only counts when rule-only turns are left out
    rule_only = None
    if ignore_rule_only_turns and rule_only_data:
        rule_only = tuple(sorted((kind, tuple(names)) for kind, names in rule_only_data.items()))
    return omit_unset_slots, ignore_rule_only_turns, rule_only


def _applied_events(tracker: DialogueStateTracker, kept: _Kept) -> list[Event]:
    """``tracker.applied_events()``, worked out again only when an event came since: the
    policies ask several times per prediction, and each time Rasa walks the whole session
    (0.24 ms at 240 events, two thirds of a repeated question)."""
    events = tracker.events
    now = (len(events), events[-1] if events else None)
    if kept.applied is None or kept.applied_for[0] != now[0] or kept.applied_for[1] is not now[1]:
        kept.applied, kept.applied_for = tracker.applied_events(), now
    return kept.applied


def _common_prefix(old: list[Event], new: list[Event]) -> int:
    n = min(len(old), len(new))
    for i in range(n):
        if old[i] is not new[i]:
            return i
    return n


def _copy(state: State) -> State:
    # featurisers delete keys of sub-states (e.g. the user text when an intent is there)
    return {kind: dict(sub) if isinstance(sub, dict) else sub for kind, sub in state.items()}


def _state(domain: Domain, replay: DialogueStateTracker, hide: bool, last: _Step | None,
           previous_state: State | None, position: int, omit_unset_slots: bool,
           ignore_rule_only_turns: bool, rule_only_data: Any) -> _Step:
    """One round of the loop in ``Domain.states_for_tracker_history``, its variables carried
    in ``last`` (the step before) instead of locals."""
    last_ml_action = last.last_ml_action if last else None
    turn_was_hidden = last.turn_was_hidden if last else False
    if ignore_rule_only_turns:
        if not turn_was_hidden:
            last_ml_action = domain._get_prev_action_sub_state(replay)
        if not replay.followup_action and replay.latest_action_name != replay.active_loop_name:
            turn_was_hidden = hide
        if turn_was_hidden:
            return _Step(position, None, last_ml_action, turn_was_hidden)
    state = domain.get_active_state(replay, omit_unset_slots=omit_unset_slots)
    if ignore_rule_only_turns:
        domain._remove_rule_only_features(state, rule_only_data)
        if previous_state is not None:
            domain._substitute_rule_only_user_input(state, previous_state)
        if last_ml_action:
            state[constants.PREVIOUS_ACTION] = last_ml_action
    return _Step(position, domain._clean_state(state), last_ml_action, turn_was_hidden)


def _last_state(steps: list[_Step]) -> State | None:
    for step in reversed(steps):
        if step.state is not None:
            return step.state
    return None


def states_for_tracker_history(domain: Domain, tracker: DialogueStateTracker,
                               omit_unset_slots: bool = False,
                               ignore_rule_only_turns: bool = False,
                               rule_only_data: dict[str, Any] | None = None) -> list[State]:
    """``Domain.states_for_tracker_history``, continuing from what this tracker object was
    asked before."""
    if type(tracker) is not DialogueStateTracker:
        return _original(domain, tracker, omit_unset_slots, ignore_rule_only_turns,
                         rule_only_data)
    kept = tracker.__dict__.get(_ATTRIBUTE)
    if kept is None:
        kept = tracker.__dict__[_ATTRIBUTE] = _Kept()
    key = _key(omit_unset_slots, ignore_rule_only_turns, rule_only_data)
    fold = kept.get(key)
    if fold is None or fold.domain is not domain:  # a new model brings a new domain
        fold = kept[key] = _Fold(domain)

    events = _applied_events(tracker, kept)
    same = _common_prefix(fold.events, events)
    if same < len(fold.events) or fold.replay is None:
        # the steps of actions inside the unchanged prefix stand; the replayed tracker is
        # rebuilt up to its end
        fold.steps = [step for step in fold.steps if step.position < same]
        fold.replay = tracker.init_copy()
        for event in events[:same]:
            fold.replay.update(event)
    for position in range(same, len(events)):
        event = events[position]
        if isinstance(event, ActionExecuted):
            fold.steps.append(_state(domain, fold.replay, event.hide_rule_turn,
                                     fold.steps[-1] if fold.steps else None,
                                     _last_state(fold.steps), position, omit_unset_slots,
                                     ignore_rule_only_turns, rule_only_data))
        fold.replay.update(event)
    fold.events = events

    # the state now, after the last event: computed on each call, never kept
    now = _state(domain, fold.replay, False, fold.steps[-1] if fold.steps else None,
                 _last_state(fold.steps), len(events), omit_unset_slots,
                 ignore_rule_only_turns, rule_only_data)
    states = [_copy(step.state) for step in fold.steps if step.state is not None]
    if now.state is not None:
        states.append(_copy(now.state))
    return states


def install() -> None:
    Domain.states_for_tracker_history = states_for_tracker_history
