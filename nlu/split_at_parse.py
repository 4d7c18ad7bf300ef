"""Several problems in one message, found while the Rasa server parses the message.

A report that may name several problems ("门口垃圾没人清，另外路灯坏了") is cut into pieces
and each piece classified (nlu/split.py). The action server used to ask for each piece over
Rasa's ``POST /model/parse``: two to four more requests into the Rasa process in the middle
of the resident's turn, each waiting there behind every other resident's turn — under 20
web chat clients such a report took 465 ms at the median against 304 ms for one without a
cut (stop 20). Here the pieces go through the same graph in-process, as /model/parse would
run them, and the whole message's ranking is the message's own; the problems (or None) ride
in the message's parse data under ``nlu.split.PROBLEMS``, which the tracker keeps and the
action server reads from ``latest_message``.

Only a message that may become a report's description is split: typed text (not a button's
or channel's ``/intent``) with at least two pieces, classified as a report or unsure
(``nlu_fallback``: the resident may be asked for its category), or typed when the report
form asks for the description. A parse without a conversation (/model/parse, the
evaluation) is left as Rasa makes it. Installed by nlu/rasa_run.py.
"""
from __future__ import annotations

from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa.shared.core.trackers import DialogueStateTracker

from nlu.decision import FALLBACK_INTENT, REPORT_PREFIX
from nlu.split import PROBLEMS, cut, problem_dicts, split_problems

DESCRIPTION_SLOT = "description"
_rasa_parse_message = MessageProcessor.parse_message


def may_describe_a_report(text: str, intent: str | None, requested_slot: str | None) -> bool:
    if text.startswith("/") or len(cut(text)) < 2:
        return False
    return (requested_slot == DESCRIPTION_SLOT or intent == FALLBACK_INTENT
            or (intent or "").startswith(REPORT_PREFIX))


async def problems_in(processor: MessageProcessor, text: str,
                      ranking: list[dict]) -> list[dict[str, Any]] | None:
    """The problems of ``text`` whose own parse ranked ``ranking`` (None: one problem)."""
    alone = DialogueStateTracker.from_events("split", [])  # as /model/parse parses
    # the splitter asks again about a part that is one piece (and about the whole message):
    # each text goes through the graph once
    rankings = {text: ranking}

    async def classify(piece: str) -> list[dict]:
        if piece not in rankings:
            parsed = processor._parse_message_with_graph(UserMessage(piece), alone)
            rankings[piece] = parsed.get("intent_ranking") or []
        return rankings[piece]

    return problem_dicts(await split_problems(text, classify))


async def parse_message(self: MessageProcessor, message: UserMessage,
                        tracker: DialogueStateTracker | None = None,
                        only_output_properties: bool = True) -> dict[str, Any]:
    parse_data = await _rasa_parse_message(self, message, tracker, only_output_properties)
    if tracker is None:
        return parse_data
    text = (parse_data.get("text") or message.text or "").strip()
    intent = (parse_data.get("intent") or {}).get("name")
    requested = tracker.get_slot("requested_slot") if tracker.active_loop_name else None
    if may_describe_a_report(text, intent, requested):
        parse_data[PROBLEMS] = await problems_in(self, text,
                                                 parse_data.get("intent_ranking") or [])
    return parse_data


def install() -> None:
    MessageProcessor.parse_message = parse_message


def uninstall() -> None:
    MessageProcessor.parse_message = _rasa_parse_message
