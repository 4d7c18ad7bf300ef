"""nlu/split_at_parse.py: the Rasa server splits a report into its problems while it parses
it, with the same result as classifying each piece over /model/parse did."""
from __future__ import annotations

import asyncio

import pytest

from nlu import split_at_parse
from nlu.split import PROBLEMS, problem_dicts, split_problems
from nlu.split_eval import load_set

TWO = "小区门口的垃圾三天没人清了，另外3号楼的路灯也坏了"


@pytest.mark.parametrize("text, intent, requested, expected", [
    (TWO, "report_sanitation", None, True),
    (TWO, "nlu_fallback", None, True),  # the resident may be asked for its category
    (TWO, "greet", "description", True),  # typed when the form asks for the description
    (TWO, "greet", None, False),
    (TWO, "report_sanitation", "place", True),
    (TWO, "inform", "place", False),  # an answer to another question of the form
    ("楼下垃圾好几天没人清了", "report_sanitation", None, False),  # one piece
    ('/choose_category{"category": "sanitation"}，另外', "choose_category", None, False),
])
def test_only_a_message_that_may_describe_a_report_is_split(text, intent, requested, expected):
    assert split_at_parse.may_describe_a_report(text, intent, requested) is expected


def conversation(requested_slot: str | None = None):
    from rasa.shared.core.events import ActiveLoop, SlotSet
    from rasa.shared.core.trackers import DialogueStateTracker

    events = [ActiveLoop("report_form"), SlotSet("requested_slot", requested_slot)] \
        if requested_slot else []
    return DialogueStateTracker.from_events("telegram:4242", events)


def parse_turn(parser, text: str, tracker) -> dict:
    from rasa.core.channels.channel import UserMessage

    return asyncio.run(split_at_parse.parse_message(parser.processor, UserMessage(text),
                                                    tracker))


@pytest.mark.slow
def test_the_split_at_parse_equals_the_split_over_model_parse_on_the_team_set(parser):
    """Every message of the team's set (tests/nlu/multi_problem.tsv): the problems a
    conversation's parse carries are those that classifying each piece as /model/parse
    parses it (no conversation) gives."""
    from rasa.core.channels.channel import UserMessage

    async def over_model_parse(piece: str) -> list[dict]:
        parsed = await split_at_parse.parse_message(parser.processor, UserMessage(piece))
        return parsed["intent_ranking"]

    rows = load_set()
    split = 0
    for row in rows:
        parsed = parse_turn(parser, row.text, conversation("description"))
        expected = problem_dicts(asyncio.run(split_problems(row.text, over_model_parse)))
        assert parsed.get(PROBLEMS) == expected, row.id
        split += expected is not None
    assert split >= 40  # the set's two-problem messages are mostly split (not all None)


@pytest.mark.slow
@pytest.mark.parametrize("text, requested", [
    ("你好，请问一下", None), ("3号楼，2单元", "place"), ("谢谢你们，辛苦了", None),
    (TWO, "description"), (TWO, None)])
def test_a_turn_is_split_as_the_conversation_and_its_parse_say(parser, text, requested):
    parsed = parse_turn(parser, text, conversation(requested))
    wanted = split_at_parse.may_describe_a_report(text, parsed["intent"]["name"], requested)
    assert (PROBLEMS in parsed) is wanted


@pytest.mark.slow
def test_a_parse_outside_a_conversation_is_left_as_rasa_makes_it(parser):
    from rasa.core.channels.channel import UserMessage

    alone = asyncio.run(split_at_parse.parse_message(parser.processor, UserMessage(TWO)))
    assert PROBLEMS not in alone  # /model/parse, the evaluation
    assert alone["intent_ranking"] == parser.parse(TWO)["intent_ranking"]


def test_installed_and_removed():
    from rasa.core.processor import MessageProcessor

    original = MessageProcessor.parse_message
    try:
        split_at_parse.install()
        assert MessageProcessor.parse_message is split_at_parse.parse_message
        split_at_parse.uninstall()
        assert MessageProcessor.parse_message is original
    finally:
        MessageProcessor.parse_message = original
