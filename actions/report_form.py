"""Filling `report_form`: what each message means for the question that was asked.

`extract_<slot>` picks the raw answer only for the slot being asked (or, when the form
starts, what the first message already says); `validate_<slot>` turns it into a value
or says exactly what is wrong. Slots outside the form (place parts, photos, …) are set
by the validators, because rasa_sdk only passes on validated form slots.
"""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.forms import FormValidationAction

from actions import common
from actions.common import CONTROL_INTENTS, SKIPPED, entity, latest_intent, latest_text
from actions.split import (
    SPLIT_INTENT,
    SplitSlots,
    added_to_description,
    pending_from_message,
    problems_of_message,
)
from minsheng.enums import ANONYMOUS_CATEGORIES, Category

FIELDS = {  # change_field{"field": …} → the slots it clears
    "description": ["description"],
    "category": ["category"],
    "place": ["place", "xiaoqu", "building", "unit", "room", "lat", "lon"],
    "photos": ["photos", "photos_done"],
    "phone": ["phone"],
}
FIELD_WORDS = {"描述": "description", "情况": "description", "类别": "category",
               "分类": "category", "地点": "place", "位置": "place", "地址": "place",
               "照片": "photos", "图片": "photos", "电话": "phone", "手机": "phone"}
PLACE_WORDS = ("路", "街", "巷", "胡同", "广场", "公园", "市场", "门口", "对面", "旁边",
               "附近", "村", "号", "楼", "小区", "院", "超市", "学校", "车站", "桥")
DONE_INTENTS = {"skip", "deny", "affirm", "thanks"}
ANONYMOUS_CODES = {c.value for c in ANONYMOUS_CATEGORIES}
ANONYMOUS_REFUSED = ("只有「治安稳定」和「矛盾纠纷」两类问题可以匿名提交，"
                     "请点「确认提交」或先改类别。")


def _asked(tracker: Tracker, slot: str) -> bool:
    return tracker.get_slot("requested_slot") == slot


def _starting(tracker: Tracker) -> bool:
    return tracker.get_slot("requested_slot") is None


def _steering(tracker: Tracker) -> bool:
    """Control messages and buttons with their own meaning are no answer to a question."""
    return latest_intent(tracker) in CONTROL_INTENTS | BUTTON_INTENTS or _rating(tracker)


def _rating(tracker: Tracker) -> bool:
    """A rating button (it carries its case number) or a 办结 starting the rating: the
    form lets it go, and data/rules/rating.yml answers it and carries on with the report."""
    intent = latest_intent(tracker)
    return intent == "start_rating" or (
        intent.startswith("rate_") and entity(tracker, "case_no") is not None)


BUTTON_INTENTS = {"choose_category", "change_field", SPLIT_INTENT}  # any step of the form


def category_slots(tracker: Tracker) -> dict[str, Any]:
    """The classifier's view of the description: a category, or candidates to ask with."""
    from nlu.decision import decide_category

    ranking = tracker.latest_message.get("intent_ranking") or []
    decision = decide_category(ranking, common.settings().nlu_confidence_threshold)
    candidates = [c.category for c in decision.candidates]
    return {
        "category": decision.category,
        "category_predicted": decision.category or (candidates[0] if ranking else None),
        "category_confidence": decision.confidence,
        "category_candidates": candidates,
    }


def place_from_message(tracker: Tracker) -> dict[str, Any] | None:
    """Place parts from the NLU entities, else from the text; None when there are none."""
    from minsheng.places import parse_place

    text = latest_text(tracker)
    parts = {k: entity(tracker, k) for k in ("xiaoqu", "building", "unit", "room")}
    if not any(parts.values()):
        place = parse_place(text)
        parts = {"xiaoqu": place.xiaoqu, "building": place.building,
                 "unit": place.unit, "room": place.room}
    if not any(parts.values()):
        return None
    return parts


def category_of_answer(raw: str) -> str | None:
    if raw in Category.__members__:
        return raw
    for category in Category:
        if category.label in raw or raw in category.label and len(raw) >= 2:
            return category.value
    return None


class ValidateReportForm(SplitSlots, FormValidationAction):
    def name(self) -> str:
        return "validate_report_form"

    async def run(self, dispatcher, tracker, domain) -> list:
        pending = pending_from_message(tracker)
        if pending is not None:  # a new report is not silently added to this one: ask
            return [SlotSet("pending_report", pending), SlotSet("requested_slot", "new_problem")]
        if latest_intent(tracker) == SPLIT_INTENT and tracker.get_slot("requested_slot") \
                not in ("split_confirm", "new_problem"):
            dispatcher.utter_message(text="这个按钮已经回答过了，请接着回答下面的问题。")
            return [SlotSet("pending_report", None)]  # a slot event: the form asks again
        return await super().run(dispatcher, tracker, domain)

    async def required_slots(self, domain_slots, dispatcher, tracker, domain) -> list[str]:
        """The domain's questions, and the ones about several problems when they arise."""
        slots = list(domain_slots)
        if len(tracker.get_slot("problems") or []) > 1 and "category" in slots:
            slots.insert(slots.index("category"), "split_confirm")
        if tracker.get_slot("pending_report"):
            slots.insert(0, "new_problem")
        return slots

    # --- description -------------------------------------------------------------
    async def extract_description(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if tracker.get_slot("description") or _steering(tracker):
            return {}
        if not (_starting(tracker) or _asked(tracker, "description")):
            return {}
        text = latest_text(tracker)
        return {"description": text} if text else {}

    async def validate_description(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        if not value or len(value.strip()) < 2:
            dispatcher.utter_message(response="utter_description_too_short")
            return {"description": None}
        # the key also finds the description's NLU log row (_record_correction)
        slots: dict[str, Any] = {"description": value.strip(),
                                 "description_key": common.message_key(tracker)}
        if tracker.get_slot("category") is None:
            slots.update(category_slots(tracker))
        slots.update({"problems": problems_of_message(tracker), "split_confirm": None})
        return slots

    # --- category ----------------------------------------------------------------
    async def extract_category(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if latest_intent(tracker) == "choose_category":  # also a late press: a correction
            return {"category": entity(tracker, "category") or "?"}
        if not _asked(tracker, "category") or _steering(tracker):
            return {}
        return {"category": latest_text(tracker) or "?"}

    async def validate_category(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        code = category_of_answer(value or "")
        if code is None:
            dispatcher.utter_message(response="utter_category_not_understood")
            return {"category": None}
        if _asked(tracker, "category") or latest_intent(tracker) == "choose_category":
            _record_correction(tracker, code)
        return {"category": code}

    # --- place -------------------------------------------------------------------
    async def extract_place(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if tracker.get_slot("place") or _steering(tracker) or entity(tracker, "photo"):
            return {}
        lat, lon = entity(tracker, "lat"), entity(tracker, "lon")
        asked = _asked(tracker, "place")
        if lat is not None and lon is not None and (asked or _starting(tracker)):
            return {"place": {"lat": lat, "lon": lon}}
        if _starting(tracker):
            parts = place_from_message(tracker)
            if parts:
                return {"place": {"parts": parts, "text": latest_text(tracker)}}
            landmark = entity(tracker, "landmark")  # 菜市场门口…: routed by the name
            return {"place": {"parts": None, "text": landmark}} if landmark else {}
        if asked:
            return {"place": {"parts": place_from_message(tracker), "text": latest_text(tracker)}}
        return {}

    async def validate_place(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        if isinstance(value, str):  # already validated earlier in this conversation
            return {"place": value}
        value = value or {}
        if "lat" in value:
            try:
                lat, lon = float(value["lat"]), float(value["lon"])
            except (TypeError, ValueError):
                lat = lon = None
            if lat is not None and -90 <= lat <= 90 and -180 <= lon <= 180:
                return {"place": f"共享位置（{lat:.5f}, {lon:.5f}）", "lat": lat, "lon": lon}
        parts = value.get("parts")
        text = (value.get("text") or "").strip()
        if parts:
            from minsheng.places import Place

            return {"place": Place(**parts).text(), **parts}
        if text and entity(tracker, "landmark") or (
                len(text) >= 3 and any(word in text for word in PLACE_WORDS)):
            return {"place": text}
        dispatcher.utter_message(response="utter_place_not_understood")
        return {"place": None}

    # --- photos ------------------------------------------------------------------
    async def extract_photos_done(self, dispatcher, tracker, domain) -> dict[str, Any]:
        photo = entity(tracker, "photo")
        if photo:  # a photo is welcome whatever was asked; the question is asked again
            return {"photos_done": {"photo": photo, "done": tracker.get_slot("photos_done")}}
        if not _asked(tracker, "photos_done") or _steering(tracker):
            return {}
        if latest_intent(tracker) in DONE_INTENTS:
            return {"photos_done": True}
        return {"photos_done": {"text": latest_text(tracker)}}

    async def validate_photos_done(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        if value is True:
            return {"photos_done": True}
        value = value if isinstance(value, dict) else {}
        if value.get("photo"):
            photos = list(tracker.get_slot("photos") or []) + [value["photo"]]
            return {"photos": photos, "photos_done": value.get("done")}
        extra = (value.get("text") or "").strip()
        slots: dict[str, Any] = {"photos_done": True}
        if extra:  # more words (no new report) instead of a photo: kept with the description
            slots.update(added_to_description(tracker, extra))
        return slots

    # --- phone -------------------------------------------------------------------
    async def extract_phone(self, dispatcher, tracker, domain) -> dict[str, Any]:
        found = entity(tracker, "phone")
        if _starting(tracker):
            return {"phone": found} if found else {}
        if not _asked(tracker, "phone") or _steering(tracker):
            return {}
        if latest_intent(tracker) in {"skip", "deny"}:
            return {"phone": SKIPPED}
        return {"phone": found or latest_text(tracker) or "?"}

    async def validate_phone(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        if value == SKIPPED:
            return {"phone": SKIPPED}
        phone = common.normalise_phone(value or "")
        if phone is None:
            dispatcher.utter_message(response="utter_phone_invalid")
        return {"phone": phone}

    # --- confirm -----------------------------------------------------------------
    async def extract_confirm(self, dispatcher, tracker, domain) -> dict[str, Any]:
        intent = latest_intent(tracker)
        if intent == "change_field":  # a summary button, pressed now or later
            return {"confirm": {"change": entity(tracker, "field")}}
        if not _asked(tracker, "confirm") or _steering(tracker):
            return {}
        if intent == "affirm":
            return {"confirm": True}
        if intent == "deny":
            return {"confirm": False}
        text = latest_text(tracker)
        field = next((f for word, f in FIELD_WORDS.items() if word in text), None)
        return {"confirm": {"change": field}}

    async def validate_confirm(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        if value is True and common.anonymous_asked(tracker) \
                and tracker.get_slot("category") not in ANONYMOUS_CODES:
            dispatcher.utter_message(text=ANONYMOUS_REFUSED)  # an old button, category changed
            return {"confirm": None}
        if isinstance(value, bool):
            return {"confirm": value}
        field = (value or {}).get("change") if isinstance(value, dict) else None
        if field not in FIELDS:
            dispatcher.utter_message(response="utter_confirm_not_understood")
            return {"confirm": None}
        return {"confirm": None, **{slot: None for slot in FIELDS[field]}}


def _record_correction(tracker: Tracker, chosen: str) -> None:
    """The resident picked a category by button or by name: the classifier learns from it."""
    key = tracker.get_slot("description_key")
    if not key:
        return
    from minsheng import nlu_log

    try:
        with common.unit_of_work() as uow:
            # the row the Rasa process logged for the description (nlu/message_log.py)
            log_id = nlu_log.find_message(uow, tracker.sender_id, key)
            if log_id is None:  # a button press, or logged before keys were kept
                return
            nlu_log.record_correction(uow, chosen, "resident", message_id=log_id)
            uow.commit()
    except Exception:  # noqa: BLE001 - side records never break the conversation
        common.log.exception("could not record the resident's category correction")
