"""Every typed resident message and what the classifier made of it goes to the NLU log.

Rasa calls `action_validate_slot_mappings` after each user message (inside
`action_extract_slots`), so logging here needs no step in any story or rule.
"""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import common


def top_prediction(parse: dict[str, Any]) -> tuple[str, float]:
    """The 8-label view of the best non-fallback intent and its confidence."""
    from nlu.decision import FALLBACK_INTENT, label_of_intent

    ranking = [r for r in parse.get("intent_ranking") or [] if r.get("name") != FALLBACK_INTENT]
    if not ranking:
        intent = parse.get("intent") or {}
        ranking = [intent] if intent.get("name") else []
    if not ranking:
        return "out_of_scope", 0.0
    best = max(ranking, key=lambda r: r.get("confidence") or 0.0)
    return label_of_intent(best.get("name", "")), float(best.get("confidence") or 0.0)


class ActionValidateSlotMappings(Action):
    def name(self) -> str:
        return "action_validate_slot_mappings"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        text = common.latest_text(tracker)
        key = common.message_key(tracker)
        if not text or key == tracker.get_slot("nlu_log_key"):
            return []  # a button, a gateway event, or this message is already logged
        label, confidence = top_prediction(tracker.latest_message)
        channel, _ = common.split_sender(tracker.sender_id)
        from minsheng import nlu_log

        try:
            with common.unit_of_work() as uow:
                row = nlu_log.record_prediction(
                    uow, channel, tracker.sender_id, text, label, confidence
                )
                uow.commit()
        except Exception:  # noqa: BLE001 - side records never break the conversation
            common.log.exception("could not record the NLU prediction")
            return []
        log_id = getattr(row, "id", row)
        return [SlotSet("nlu_log_key", key), SlotSet("nlu_log_id", log_id)]
