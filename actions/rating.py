"""回访评价: 满意 / 基本满意 / 不满意 with an optional comment; 不满意 reopens one level up."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

from actions import common
from actions.common import CONTROL_INTENTS, SKIPPED, latest_intent, latest_text
from minsheng.enums import RATING_LABELS, Rating

RATING_INTENTS = {f"rate_{r.value}": r.value for r in Rating}
RATING_WORDS = [("不满意", Rating.dissatisfied), ("基本满意", Rating.basically_satisfied),
                ("满意", Rating.satisfied)]


class ValidateRatingForm(FormValidationAction):
    def name(self) -> str:
        return "validate_rating_form"

    async def extract_rating(self, dispatcher, tracker, domain) -> dict[str, Any]:
        intent = latest_intent(tracker)
        if intent in RATING_INTENTS:
            return {"rating": RATING_INTENTS[intent]}
        if tracker.get_slot("requested_slot") != "rating" or intent in CONTROL_INTENTS:
            return {}
        text = latest_text(tracker)
        word = next((r.value for w, r in RATING_WORDS if w in text), None)
        return {"rating": word or "?"}

    async def validate_rating(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        if value in Rating.__members__:
            return {"rating": value}
        dispatcher.utter_message(response="utter_rating_not_understood")
        return {"rating": None}

    async def extract_rating_comment(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "rating_comment":
            return {}
        intent = latest_intent(tracker)
        if intent in CONTROL_INTENTS:
            return {}
        if intent in {"skip", "deny", "thanks", "goodbye"} or not latest_text(tracker):
            return {"rating_comment": SKIPPED}
        return {"rating_comment": latest_text(tracker)}


class ActionSubmitRating(Action):
    def name(self) -> str:
        return "action_submit_rating"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        done = [SlotSet("rating", None), SlotSet("rating_comment", None)]
        case_no, value = tracker.get_slot("rating_case_no"), tracker.get_slot("rating")
        if not case_no:
            dispatcher.utter_message(text="目前没有需要您评价的工单。有新问题随时告诉我。")
            return done
        if value not in Rating.__members__:
            return done
        comment = tracker.get_slot("rating_comment")
        from minsheng.services import cases

        from minsheng.enums import FeedbackRoute

        rating = Rating(value)
        try:
            with common.unit_of_work() as uow:
                cases.rate(uow, case_no, rating, FeedbackRoute.online,
                           comment=None if comment in (None, SKIPPED) else comment,
                           resident=common.resident_of(tracker))
                uow.commit()
                view = cases.get_case(uow, case_no) if rating is Rating.dissatisfied else None
        except Exception as error:  # noqa: BLE001 - told to the resident
            common.utter_error(dispatcher, error)
            return done
        if rating is Rating.dissatisfied:
            owner = getattr(view, "assignee_name", None) or getattr(view, "grid_name", None)
            dispatcher.utter_message(
                text=f"非常抱歉没让您满意。工单 {case_no} 已重新派单，并提级交由"
                     f"{owner or '上一级'}督办处理，有进展会再告诉您。"
            )
        else:
            dispatcher.utter_message(
                text=f"收到您的评价「{RATING_LABELS[rating]}」，谢谢您的反馈！"
            )
        return done + [SlotSet("rating_case_no", None)]
