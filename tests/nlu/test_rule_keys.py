"""nlu/rule_keys.py: the rules RulePolicy finds applicable are Rasa's own, asked once or again,
before every action of every story, rule and test story, with the trained model's rules."""
from __future__ import annotations

import pytest
from rasa.core.agent import Agent
from rasa.core.policies.rule_policy import RULES, RULES_FOR_LOOP_UNHAPPY_PATH, RulePolicy
from rasa.shared.core.events import ActionExecuted
from rasa.shared.core.trackers import DialogueStateTracker

from nlu import rule_keys
from tests.nlu.test_prior_states import story_events


@pytest.fixture(scope="module")
def agent(trained_model_path):
    return Agent.load(str(trained_model_path))


def rule_policy(agent: Agent) -> RulePolicy:
    nodes = agent.processor.graph_runner._instantiated_nodes.values()
    return next(n._component for n in nodes if isinstance(n._component, RulePolicy))


def every_question(policy: RulePolicy, domain) -> list[tuple[str, dict, list]]:
    """(story, lookup, states) before every action of every story, and of one long
    conversation: a dozen stories one after another."""
    stories = story_events(domain)
    stories.append(("a long conversation", [e for _, events in stories[:12] for e in events]))
    questions = []
    for name, events in stories:
        tracker = DialogueStateTracker("rules", domain.slots)
        for event in events:
            tracker.update(event, domain)
            if isinstance(event, ActionExecuted):
                states = policy._prediction_states(
                    tracker, domain, False, rule_only_data=policy._get_rule_only_data())
                for lookup in (policy.lookup[RULES], policy.lookup[RULES_FOR_LOOP_UNHAPPY_PATH]):
                    questions.append((name, lookup, states))
    return questions


@pytest.mark.parametrize("size", [rule_keys.SIZE, 64])  # all kept; most dropped and asked again
def test_applicable_rules_are_rasas_before_every_action(agent, monkeypatch, size):
    policy, domain = rule_policy(agent), agent.domain
    policy.__dict__.pop(rule_keys._ATTRIBUTE, None)
    monkeypatch.setattr(rule_keys, "SIZE", size)
    questions = every_question(policy, domain)
    expected = [rule_keys._original(policy, lookup, states) for _, lookup, states in questions]
    rule_keys.install()
    try:
        # in order, then the other way round: a remembered answer is asked by other stories
        for order in (range(len(questions)), reversed(range(len(questions)))):
            for i in order:
                name, lookup, states = questions[i]
                got = policy._get_possible_keys(lookup, states)
                assert got == expected[i], name
                got.add("changed by a caller")  # not the remembered answer
    finally:
        rule_keys.uninstall()
    memory = policy.__dict__[rule_keys._ATTRIBUTE]
    assert len(questions) > 1000 and sum(map(bool, expected)) > 200
    assert 0 < len(memory.answers) <= size
    longest = max(len(states) for _, _, states in questions)
    assert longest > 4 * max(memory.turns.values()) > 0  # conversations longer than any rule


def as_conversation_state(rule_state: dict) -> dict:
    """A rule's state as a tracker gives it (tuples where the rule's JSON has lists)."""
    return {kind: {k: tuple(v) if isinstance(v, list) else v for k, v in part.items()}
            for kind, part in rule_state.items()}


def test_the_oldest_turn_of_the_longest_rule_still_counts(agent):
    """Two conversations that differ only in the first turn of the longest rule: asked one
    after the other, each gets its own answer (the memory looks back far enough)."""
    policy = rule_policy(agent)
    policy.__dict__.pop(rule_keys._ATTRIBUTE, None)
    lookup = policy.lookup[RULES]
    longest = max(lookup, key=lambda rule: len(policy._rule_key_to_state(rule)))
    exact = [as_conversation_state(s) for s in policy._rule_key_to_state(longest)]
    assert len(exact) >= 2
    altered = [{"prev_action": {"action_name": "action_no_rule_has"},
                "user": {"intent": "intent_no_rule_has"}}] + exact[1:]
    expected = [rule_keys._original(policy, lookup, states) for states in (altered, exact)]
    assert longest in expected[1] and longest not in expected[0]
    rule_keys.install()
    try:
        got = [policy._get_possible_keys(lookup, states) for states in (altered, exact)]
    finally:
        rule_keys.uninstall()
    assert got == expected
