"""RulePolicy's applicable rules remembered by the conversation's states.

Before every action of every turn ``RulePolicy._get_possible_keys`` filters all its rules
against the conversation's states, turn by turn back from the last: 3.6 % of the Rasa
process under 20 web chat clients (py-spy, stop 19), the more the longer the conversation.
Its answer depends only on the rules (fixed once the policy is loaded) and the last states:
a rule of n turns is kept whatever came more than n turns back, so only as many states as
the longest rule has turns matter. Residents going through a report walk the same few paths
of states. So the answer is kept per policy object, by its lookup and those last states made
hashable as Rasa makes them (``freeze_current_state``), at most ``SIZE`` answers (least
recently used dropped); callers get their own set. A new model is a new policy object with a memory of its own.
Installed by nlu/rasa_run.py for the serving process only (training builds the lookup the
answers come from).
"""
from __future__ import annotations

from collections import OrderedDict

from rasa.core.policies.rule_policy import RulePolicy
from rasa.shared.core.domain import State
from rasa.shared.core.trackers import DialogueStateTracker

SIZE = 4096
_original = RulePolicy._get_possible_keys
_ATTRIBUTE = "_minsheng_rule_keys"


class _Memory:
    def __init__(self) -> None:
        self.turns: dict[int, int] = {}  # id of a lookup: the most turns of its rules
        self.answers: OrderedDict[tuple, frozenset[str]] = OrderedDict()


def _get_possible_keys(self: RulePolicy, lookup: dict[str, str],
                       states: list[State]) -> set[str]:
    memory: _Memory | None = self.__dict__.get(_ATTRIBUTE)
    if memory is None:
        memory = self.__dict__[_ATTRIBUTE] = _Memory()
    # id(lookup): one of this policy's own dicts, alive as long as the policy and its memory
    turns = memory.turns.get(id(lookup))
    if turns is None:
        turns = memory.turns[id(lookup)] = max(
            (len(self._rule_key_to_state(rule)) for rule in lookup), default=0)
    try:
        key = (id(lookup), tuple(DialogueStateTracker.freeze_current_state(state)
                                 for state in states[max(0, len(states) - turns):]))
    except TypeError:  # a state Rasa's freezing cannot hash: asked as before
        return _original(self, lookup, states)
    found = memory.answers.get(key)
    if found is None:
        found = memory.answers[key] = frozenset(_original(self, lookup, states))
        if len(memory.answers) > SIZE:
            memory.answers.popitem(last=False)
    else:
        memory.answers.move_to_end(key)
    return set(found)


def install() -> None:
    RulePolicy._get_possible_keys = _get_possible_keys


def uninstall() -> None:
    RulePolicy._get_possible_keys = _original
