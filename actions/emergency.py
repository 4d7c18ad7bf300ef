"""Danger to life: the right emergency number first, then an urgent case with what is known."""
from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import common
from actions.report import REPORT_SLOTS, new_case, reset_report, utter_opened
from actions.report_form import place_from_message
from minsheng.enums import Category

# (words, number, service, category) — checked in this order; violence before injury,
# because "被打伤了" is first a matter for the police.
KINDS = [
    (("着火", "火灾", "起火", "冒烟", "烧起来", "燃气", "煤气", "天然气", "爆炸", "失火", "明火", "火苗"),
     "119", "消防", Category.safety_hazard),
    (("打人", "打架", "砍", "持刀", "行凶", "抢劫", "闹事", "家暴", "斗殴", "动手", "绑"),
     "110", "公安", Category.public_order),
    (("受伤", "流血", "晕倒", "昏迷", "摔倒", "不省人事", "被困", "触电", "溺水", "心脏"),
     "120", "急救", Category.safety_hazard),
]


def classify(text: str) -> tuple[str | None, str | None, Category]:
    for words, number, service, category in KINDS:
        if any(word in text for word in words):
            return number, service, category
    return None, None, Category.safety_hazard


def emergency_advice(text: str) -> str:
    number, service, _ = classify(text)
    if number:
        return f"⚠️ 情况紧急，请立即拨打 {number}（{service}）！先确保自己和家人安全。"
    return "⚠️ 情况紧急，请立即拨打 119（火警）/ 110（报警）/ 120（急救）！先确保自己安全。"


class ActionEmergency(Action):
    def name(self) -> str:
        return "action_emergency"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        text = common.latest_text(tracker)
        earlier = tracker.get_slot("description")
        description = "；".join(t for t in (earlier, text) if t) or "紧急情况（居民求助）"
        dispatcher.utter_message(text=emergency_advice(description))

        slots = {slot: tracker.get_slot(slot) for slot in REPORT_SLOTS}
        if not slots.get("place"):
            parts = place_from_message(tracker) or {}
            slots.update(parts)
            slots["place"] = "".join(v for v in (parts.get("xiaoqu"), parts.get("building"),
                                                 parts.get("unit"), parts.get("room")) if v)
        slots.update(description=description, category=classify(description)[2].value,
                     description_key=f"emergency:{common.message_key(tracker)}")
        from minsheng.services import cases

        try:
            with common.unit_of_work() as uow:
                result = cases.open_case(uow, new_case(_Snapshot(tracker, slots), urgent=True),
                                        settings=common.settings())
                uow.commit()
        except Exception as error:  # noqa: BLE001 - told to the resident
            common.utter_error(dispatcher, error)
            return [ActiveLoop(None), SlotSet("requested_slot", None)] + reset_report()
        utter_opened(dispatcher, result)
        if not slots.get("place"):
            dispatcher.utter_message(
                text="网格员已收到紧急工单。方便的话请告诉我具体位置（小区、楼栋），我会补充进去。"
            )
        return ([ActiveLoop(None), SlotSet("requested_slot", None)] + reset_report()
                + [SlotSet("last_case_no", result.merged_into or result.case_no)])


class _Snapshot:
    """The tracker seen through a set of slot values (what is known right now)."""

    def __init__(self, tracker: Tracker, slots: dict):
        self._tracker, self._slots = tracker, slots
        self.sender_id = tracker.sender_id
        self.events = tracker.events
        self.slots = {**tracker.slots, **slots}

    def get_slot(self, name: str):
        return self.slots.get(name)

    def __getattr__(self, name):
        return getattr(self._tracker, name)
