"""The resident's own cases: progress, adding information or photos, withdrawing."""
from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

from actions import common
from actions.common import CONTROL_INTENTS, entity, latest_intent, latest_text
from actions.report import payload
from minsheng.enums import OPEN_STATES, STATE_LABELS, CaseState, Category

MAX_LISTED = 5
# "我要补充一下：" and the like carry no information of their own
STOCK_PHRASE = re.compile(r"^(我想|我要|再|帮我)?(补充|追加|添加)(一下|一点)?(信息|情况|内容|材料)?[:：，,。\s]*")


def my_cases(tracker: Tracker) -> list:
    from minsheng.services import cases

    with common.unit_of_work() as uow:
        return list(cases.cases_of_resident(uow, common.resident_of(tracker)))


def is_open(view) -> bool:
    return CaseState(view.state) in OPEN_STATES


def case_line(view) -> str:
    state = STATE_LABELS[CaseState(view.state)]
    label = Category(view.category).label
    line = f"• {view.case_no}｜{label}｜{state}"
    if view.events:
        last = view.last_event or ""
        last = last if len(last) <= 60 else last[:59] + "…"
        line += f"\n  最新（{common.format_time(view.events[-1].at)}）：{last}"
    return line


def case_buttons(views: list, intent: str, verb: str) -> list[dict[str, str]]:
    return [{"title": f"{verb} {v.case_no}", "payload": payload(intent, case_no=v.case_no)}
            for v in views[:MAX_LISTED]]


class ActionShowCases(Action):
    def name(self) -> str:
        return "action_show_cases"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        try:
            views = my_cases(tracker)
        except Exception as error:  # noqa: BLE001 - told to the resident
            common.utter_error(dispatcher, error)
            return []
        if not views:
            dispatcher.utter_message(response="utter_no_cases")
            return []
        lines = ["您的工单："] + [case_line(v) for v in views[:MAX_LISTED]]
        if len(views) > MAX_LISTED:
            lines.append(f"……共 {len(views)} 件，这里列出最近 {MAX_LISTED} 件。")
        open_views = [v for v in views if is_open(v)]
        buttons = (case_buttons(open_views, "add_info", "补充")
                   + case_buttons(open_views, "withdraw", "撤回"))
        dispatcher.utter_message(text="\n".join(lines), buttons=buttons)
        return []


class CaseChoice:
    """Which open case the resident means: a button, a typed number, or the only one."""

    async def extract_case_no(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if tracker.get_slot("case_no") or latest_intent(tracker) in CONTROL_INTENTS - {
            self.form_intent
        }:
            return {}
        chosen = entity(tracker, "case_no")
        if chosen:
            return {"case_no": chosen}
        if tracker.get_slot("requested_slot") is None:  # the form starts: pick the only one
            return {"case_no": "?only"}
        return {"case_no": latest_text(tracker).upper() or "?"}

    async def validate_case_no(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        try:
            open_views = [v for v in my_cases(tracker) if is_open(v)]
        except Exception as error:  # noqa: BLE001 - told to the resident
            common.utter_error(dispatcher, error)
            return {"case_no": None, "requested_slot": None}
        if not open_views:
            dispatcher.utter_message(response="utter_no_open_cases")
            return {"case_no": None, "requested_slot": None}  # ends the form
        if value == "?only":
            return {"case_no": open_views[0].case_no if len(open_views) == 1 else None}
        match = next((v.case_no for v in open_views if v.case_no == value.strip()), None)
        if match is None:
            dispatcher.utter_message(response="utter_case_not_found")
        return {"case_no": match}


class AskCaseNo:
    """Asks which open case, with one button per case (mixed into an Action)."""

    intent, verb, form = "", "", ""

    def name(self) -> str:
        return f"action_ask_{self.form}_case_no"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        try:
            open_views = [v for v in my_cases(tracker) if is_open(v)]
        except Exception as error:  # noqa: BLE001 - told to the resident
            common.utter_error(dispatcher, error)
            return []
        dispatcher.utter_message(text=f"要{self.verb}哪一个工单？",
                                 buttons=case_buttons(open_views, self.intent, self.verb))
        return []


class ActionAskAddInfoCase(AskCaseNo, Action):
    intent, verb, form = "add_info", "补充", "add_info_form"


class ActionAskWithdrawCase(AskCaseNo, Action):
    intent, verb, form = "withdraw", "撤回", "withdraw_form"


class ValidateAddInfoForm(CaseChoice, FormValidationAction):
    form_intent = "add_info"

    def name(self) -> str:
        return "validate_add_info_form"

    async def extract_info_text(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if latest_intent(tracker) in CONTROL_INTENTS:
            return {}
        photo = entity(tracker, "photo")
        if photo:
            return {"info_text": {"photo": photo}}
        if tracker.get_slot("requested_slot") == "info_text":
            return {"info_text": {"text": latest_text(tracker)}}
        if tracker.get_slot("requested_slot") is not None:
            return {}
        lat, lon = entity(tracker, "lat"), entity(tracker, "lon")
        if lat is not None and lon is not None:  # the form starts with a shared location
            return {"info_text": {"text": f"共享位置：{lat}, {lon}"}}
        words = STOCK_PHRASE.sub("", latest_text(tracker))
        return {"info_text": {"text": words}} if len(words) >= 4 else {}

    async def validate_info_text(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        value = value if isinstance(value, dict) else {"text": value}
        if value.get("photo"):
            return {"info_text": "（照片）", "info_photo": value["photo"]}
        text = (value.get("text") or "").strip()
        if len(text) < 2:
            dispatcher.utter_message(response="utter_ask_add_info_form_info_text")
            return {"info_text": None}
        return {"info_text": text}


class ActionAddInfo(Action):
    def name(self) -> str:
        return "action_add_info"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        case_no, photo = tracker.get_slot("case_no"), tracker.get_slot("info_photo")
        text = None if photo else tracker.get_slot("info_text")
        done = [SlotSet("case_no", None), SlotSet("info_text", None), SlotSet("info_photo", None)]
        if not case_no or not (text or photo):
            return done
        from minsheng.services import cases

        try:
            with common.unit_of_work() as uow:
                cases.add_info(uow, case_no, common.resident_of(tracker), text=text,
                               photo_path=photo)
                uow.commit()
        except Exception as error:  # noqa: BLE001 - told to the resident
            common.utter_error(dispatcher, error)
            return done
        dispatcher.utter_message(response="utter_info_added", case_no=case_no)
        return done


class ValidateWithdrawForm(CaseChoice, FormValidationAction):
    form_intent = "withdraw"

    def name(self) -> str:
        return "validate_withdraw_form"

    async def extract_withdraw_confirm(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "withdraw_confirm":
            return {}
        intent = latest_intent(tracker)
        if intent in {"affirm", "withdraw"}:
            return {"withdraw_confirm": True}
        if intent in {"deny", "skip"}:
            return {"withdraw_confirm": False}
        return {}


class ActionAskWithdrawConfirm(Action):
    def name(self) -> str:
        return "action_ask_withdraw_form_withdraw_confirm"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        dispatcher.utter_message(
            text=f"确定要撤回工单 {tracker.get_slot('case_no')} 吗？撤回后网格员将不再处理。",
            buttons=[{"title": "确认撤回", "payload": "/affirm"},
                     {"title": "不撤回", "payload": "/deny"}],
        )
        return []


class ActionWithdrawCase(Action):
    def name(self) -> str:
        return "action_withdraw_case"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        case_no = tracker.get_slot("case_no")
        done = [SlotSet("case_no", None), SlotSet("withdraw_confirm", None)]
        if not case_no:
            return done
        if tracker.get_slot("withdraw_confirm") is not True:
            dispatcher.utter_message(response="utter_withdraw_kept")
            return done
        from minsheng.services import cases

        try:
            with common.unit_of_work() as uow:
                cases.withdraw(uow, case_no, common.resident_of(tracker))
                uow.commit()
        except Exception as error:  # noqa: BLE001 - told to the resident
            common.utter_error(dispatcher, error)
            return done
        dispatcher.utter_message(response="utter_case_withdrawn", case_no=case_no)
        return done
