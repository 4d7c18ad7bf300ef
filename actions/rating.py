"""回访评价: 满意 / 基本满意 / 不满意 with an optional comment; 不满意 reopens one level up.

Every rating button carries the case number it rates (``/rate_satisfied{"case_no": …}``,
made by ``minsheng.services.notices.rating_buttons``), so a press on an older prompt rates
that older case. A press on a case that no longer waits for a rating is answered at once.
A report typed while the question is open is not an invalid rating: the form lets it go
and the report form takes it.
"""
from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

from actions import common
from actions.common import (
    CONTROL_INTENTS,
    REPORT_INTENT_PREFIX,
    SKIPPED,
    latest_intent,
    latest_text,
)
from minsheng.enums import RATING_LABELS, Rating

log = logging.getLogger(__name__)

RATING_INTENTS = {f"rate_{r.value}": r.value for r in Rating}
RATING_WORDS = [("不满意", Rating.dissatisfied), ("基本满意", Rating.basically_satisfied),
                ("满意", Rating.satisfied)]
# A rating word this near the start answers the question even in a report-like message.
RATING_WORD_REACH = 4
NEW_REPORT_INTENTS = {"send_photo"}  # besides report_*: a photo starts a report (随手拍)
FIRST_ASK_INTENTS = {"start_rating"}
# A new rating question (another case resolved) while one is open: start over for it.
NEW_QUESTION_INTENTS = {"start_rating", "rating_reminder"}
NONE_AWAITING = "目前没有等待您评价的工单。有新问题随时告诉我。"
SEVERAL_AWAITING = "您有几个工单在等评价，请点对应那条办结消息下面的按钮。"


def rating_word(text: str) -> tuple[Rating, int] | None:
    """The rating a typed answer names and where it starts ('不满意' before '满意')."""
    for word, rating in RATING_WORDS:
        at = text.find(word)
        if at >= 0:
            return rating, at
    return None


def looks_like_new_report(tracker: Tracker) -> bool:
    """A report (or an unsure message that looks like one), not an answer to the question."""
    intent = latest_intent(tracker)
    if intent.startswith(REPORT_INTENT_PREFIX) or intent in NEW_REPORT_INTENTS:
        return True
    if intent != "nlu_fallback":
        return False
    from nlu.decision import decide_category

    ranking = tracker.latest_message.get("intent_ranking") or []
    top = next((r.get("name") for r in sorted(ranking, key=lambda r: -(r.get("confidence") or 0))
                if r.get("name") != "nlu_fallback"), None)
    if top in RATING_INTENTS:
        return False
    decision = decide_category(ranking, common.settings().nlu_confidence_threshold)
    return bool(decision.category or decision.ask_with_buttons)


def rating_problem(tracker: Tracker, case_no: str) -> str | None:
    """None when the resident may rate the case now; else what to tell them."""
    from minsheng.errors import DomainError
    from minsheng.services import cases

    try:
        with common.unit_of_work() as uow:
            cases.check_awaiting_rating(uow, case_no, common.resident_of(tracker))
    except DomainError as error:
        return str(error)
    except Exception:  # the submit step reports a failing database
        log.exception("could not check whether %s awaits a rating", case_no)
    return None


def awaiting_cases(tracker: Tracker) -> list[str]:
    """The resident's cases waiting for a rating (for a typed rating without a button)."""
    from minsheng.services import cases

    with common.unit_of_work() as uow:
        views = cases.cases_of_resident(uow, common.resident_of(tracker))
    return [v.case_no for v in views if v.state == "resolved"]


def end_form(**slots: Any) -> dict[str, Any]:
    return {"rating": None, "rating_comment": None, "requested_slot": None, **slots}


class ValidateRatingForm(FormValidationAction):
    def name(self) -> str:
        return "validate_rating_form"

    async def extract_rating(self, dispatcher, tracker, domain) -> dict[str, Any]:
        intent = latest_intent(tracker)
        if intent in RATING_INTENTS:
            return {"rating": RATING_INTENTS[intent]}
        if intent in NEW_QUESTION_INTENTS:
            return {"rating": None}  # an unrecorded choice for another case is dropped
        if tracker.get_slot("requested_slot") != "rating" or intent in CONTROL_INTENTS:
            return {}
        found = rating_word(latest_text(tracker))
        if looks_like_new_report(tracker) and (found is None or found[1] > RATING_WORD_REACH):
            return {}  # nothing extracted: the form is rejected and the report rules run
        return {"rating": found[0].value if found else "?"}

    async def validate_rating(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        if value is None:  # a new question: asked again for its own case
            return {"rating": None}
        if value not in Rating.__members__:
            dispatcher.utter_message(response="utter_rating_not_understood")
            return {"rating": None}
        case_no = tracker.get_slot("rating_case_no")
        if not case_no:
            waiting = awaiting_cases(tracker)
            if len(waiting) != 1:
                dispatcher.utter_message(text=SEVERAL_AWAITING if waiting else NONE_AWAITING)
                return end_form()
            case_no = waiting[0]
        problem = rating_problem(tracker, case_no)
        if problem is not None:
            dispatcher.utter_message(text=problem)
            return end_form(rating_case_no=None)
        return {"rating": value, "rating_case_no": case_no}

    async def extract_rating_comment(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "rating_comment":
            return {}
        intent = latest_intent(tracker)
        if intent in NEW_QUESTION_INTENTS:
            return {"rating_comment": None}
        if intent in CONTROL_INTENTS or intent in RATING_INTENTS:
            return {}  # a rating button is a (new) rating, not a comment
        if intent in {"skip", "deny", "thanks", "goodbye"} or not latest_text(tracker):
            return {"rating_comment": SKIPPED}
        return {"rating_comment": latest_text(tracker)}


class ActionAskRating(Action):
    """The rating question: what was done, by whom, the photos, and this case's buttons."""

    def name(self) -> str:
        return "action_ask_rating_form_rating"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        from minsheng.services.notices import rating_buttons

        case_no = tracker.get_slot("rating_case_no")
        if not case_no:
            dispatcher.utter_message(response="utter_rating_not_understood")
            return []
        first = latest_intent(tracker) in FIRST_ASK_INTENTS
        lines, photos = (resolution(tracker, case_no) if first else ([], []))
        lines.append(f"对工单 {case_no} 的处理结果满意吗？")
        dispatcher.utter_message(text="\n".join(lines), buttons=rating_buttons(case_no))
        # Every channel shows a stored photo: Telegram sends it, WeChat uploads it as
        # media, the web chat serves it to this resident only (/chat/photos/).
        for path in photos:
            dispatcher.utter_message(image=path)
        return []


def resolution(tracker: Tracker, case_no: str) -> tuple[list[str], list[str]]:
    """'您反映的「…」已办结。' and '处理结果：…（王网格）', with the photos of the 办结."""
    from minsheng.services import cases

    try:
        with common.unit_of_work() as uow:
            view = cases.get_case(uow, case_no)
    except Exception:  # the question is still asked, with its buttons
        log.exception("could not load %s for the rating question", case_no)
        return [], []
    done = next((e for e in reversed(view.events) if e.action == "resolve"), None)
    about = view.description if len(view.description) <= 20 else view.description[:20] + "…"
    lines = [f"您反映的「{about}」（工单 {case_no}）已办结。"]
    if done is not None:
        by = f"（{done.actor_name}）" if done.actor_name else ""
        lines.append(f"处理结果：{done.note or '已处理完毕'}{by}")
    photos = [p.path for p in view.photos if p.added_by == "staff"
              and done is not None and p.added_at >= done.at]
    if photos:
        lines.append(f"附现场照片 {len(photos)} 张。")
    return lines, photos


class ActionSubmitRating(Action):
    def name(self) -> str:
        return "action_submit_rating"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        done = [SlotSet("rating", None), SlotSet("rating_comment", None)]
        case_no, value = tracker.get_slot("rating_case_no"), tracker.get_slot("rating")
        if not case_no or value not in Rating.__members__:
            return done  # the form ended early and already said why
        comment = tracker.get_slot("rating_comment")
        from minsheng.enums import FeedbackRoute
        from minsheng.services import cases

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
            return done + [SlotSet("rating_case_no", None)]
        if rating is Rating.dissatisfied:
            owner = getattr(view, "assignee_name", None)  # a public name, never a micro-grid
            dispatcher.utter_message(
                text=f"非常抱歉没让您满意。工单 {case_no} 已重新派单，并提级交由"
                     f"{owner or '上一级'}督办处理，有进展会再告诉您。"
            )
        else:
            dispatcher.utter_message(
                text=f"收到您对工单 {case_no} 的评价「{RATING_LABELS[rating]}」，谢谢您的反馈！"
            )
        return done + [SlotSet("rating_case_no", None)]
