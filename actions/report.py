"""The report journey's questions with buttons, the summary, opening the case, cancel."""
from __future__ import annotations

import json
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import common
from actions.common import SKIPPED
from actions.split import PLACE_PARTS, label, own_place, place_text
from minsheng.enums import ANONYMOUS_CATEGORIES, Category
from minsheng.errors import QuotaExceeded
from minsheng.privacy import mask_phone

REPORT_SLOTS = ["description", "description_key", "category",
                "category_predicted", "category_confidence", "category_candidates",
                "place", "xiaoqu", "building", "unit", "room", "lat", "lon", "photos",
                "photos_done", "phone", "confirm", "problems", "split_confirm",
                "pending_report", "new_problem"]
OTHER_FORM_SLOTS = ["case_no", "info_text", "info_photo", "withdraw_confirm",
                    "rating", "rating_comment"]


def payload(intent: str, **entities: Any) -> str:
    return f"/{intent}{json.dumps(entities, ensure_ascii=False)}" if entities else f"/{intent}"


def category_buttons(order: list[str] | None) -> list[dict[str, str]]:
    codes = [c for c in (order or []) if c in Category.__members__]
    codes += [c.value for c in Category if c.value not in codes]
    return [{"title": Category(c).label, "payload": payload("choose_category", category=c)}
            for c in codes]


def reset_report() -> list:
    return [SlotSet(slot, None) for slot in REPORT_SLOTS]


class ActionAskCategory(Action):
    def name(self) -> str:
        return "action_ask_report_form_category"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        guess = tracker.get_slot("category_predicted")
        if guess in Category.__members__ and tracker.get_slot("category_confidence"):
            text = f"这件事我猜是「{Category(guess).label}」类，对吗？请点选正确的类别："
        else:
            text = "这件事属于哪一类？请点选最接近的："
        dispatcher.utter_message(
            text=text, buttons=category_buttons(tracker.get_slot("category_candidates"))
        )
        return []


class ActionAskPhotos(Action):
    def name(self) -> str:
        return "action_ask_report_form_photos_done"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        count = len(tracker.get_slot("photos") or [])
        if count:
            dispatcher.utter_message(
                text=f"照片收到了（共 {count} 张），还可以继续发；发完请点「完成」。",
                buttons=[{"title": "完成", "payload": "/affirm"}],
            )
        else:
            dispatcher.utter_message(
                text="有现场照片吗？直接发过来就行（随手拍）；没有就点「跳过」。",
                buttons=[{"title": "跳过", "payload": "/skip"}],
            )
        return []


def problems_of(tracker: Tracker) -> list[dict[str, Any]]:
    """The problems to file apart; empty for an ordinary single report."""
    problems = tracker.get_slot("problems") or []
    return problems if len(problems) > 1 and tracker.get_slot("split_confirm") else []


def summary(tracker: Tracker) -> str:
    category = tracker.get_slot("category")
    phone = tracker.get_slot("phone")
    problems = problems_of(tracker)
    if problems:
        lines = [f"请核对一下（{len(problems)} 个问题，分别登记）："]
        for i, problem in enumerate(problems, 1):
            lines.append(f"{i}. {problem['text']}（{label(problem['category'])}）"
                         f"地点：{place_text(problem, tracker)}")
    else:
        lines = [
            "请核对一下：",
            f"问题：{tracker.get_slot('description')}",
            f"类别：{Category(category).label if category in Category.__members__ else '未选'}",
            f"地点：{tracker.get_slot('place')}",
        ]
    lines += [f"照片：{len(tracker.get_slot('photos') or [])} 张",
              f"电话：{'不留' if phone in (None, SKIPPED) else mask_phone(phone)}"]
    return "\n".join(lines)


class ActionAskConfirm(Action):
    def name(self) -> str:
        return "action_ask_report_form_confirm"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        buttons = [{"title": "确认提交", "payload": "/affirm"}]
        problems = problems_of(tracker)
        categories = [p["category"] for p in problems] or [tracker.get_slot("category")]
        if all(c in {c.value for c in ANONYMOUS_CATEGORIES} for c in categories):
            buttons.append({"title": "匿名提交", "payload": payload("affirm", field="anonymous")})
        # several problems: each part's category and words were shown and accepted one by
        # one; changing them is 「不报了」 and telling them again
        fields = [("place", "改地点"), ("photos", "改照片"), ("phone", "改电话")] if problems else [
            ("category", "改类别"), ("place", "改地点"), ("photos", "改照片"), ("phone", "改电话"),
            ("description", "改描述")]
        for field, title in fields:
            buttons.append({"title": title, "payload": payload("change_field", field=field)})
        buttons.append({"title": "不报了", "payload": "/cancel"})
        dispatcher.utter_message(text=summary(tracker), buttons=buttons)
        return []


class ActionOpenCase(Action):
    def name(self) -> str:
        return "action_open_case"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        if tracker.get_slot("confirm") is not True:
            dispatcher.utter_message(response="utter_report_discarded")
            return reset_report()
        from minsheng.services import cases

        reports = [new_case(tracker, problem=p, index=i)
                   for i, p in enumerate(problems_of(tracker), 1)] or [new_case(tracker)]
        opened = []
        try:
            for report in reports:  # one key per problem: a retry opens only what is missing
                with common.unit_of_work() as uow:
                    opened.append(cases.open_case(uow, report, settings=common.settings()))
                    uow.commit()
        except QuotaExceeded as error:  # asking again would not help today
            tell_opened(dispatcher, opened, common.anonymous_asked(tracker))
            common.utter_error(dispatcher, error)
            return reset_report() + last_case(opened)
        except Exception as error:  # noqa: BLE001 - told to the resident
            common.utter_error(dispatcher, error)
            return [SlotSet("confirm", None), ActiveLoop("report_form"),
                    SlotSet("requested_slot", "confirm")]
        tell_opened(dispatcher, opened, common.anonymous_asked(tracker))
        return reset_report() + last_case(opened)


def last_case(opened: list) -> list:
    if not opened:
        return []
    return [SlotSet("last_case_no", opened[-1].merged_into or opened[-1].case_no)]


def tell_opened(dispatcher: CollectingDispatcher, opened: list, anonymous: bool) -> None:
    for result in opened:
        utter_opened(dispatcher, result, anonymous=anonymous)
    if len(opened) > 1:
        numbers = "、".join(r.merged_into or r.case_no for r in opened)
        dispatcher.utter_message(text=f"{len(opened)} 个问题已分别登记，工单号：{numbers}。")


def new_case(tracker: Tracker, urgent: bool = False, problem: dict | None = None,
             index: int = 0):
    """The report as a case; with ``problem``, that one part of a message with several
    (its own words, category and place — the report's place when it names none)."""
    from minsheng.places import Place
    from minsheng.services.cases import NewCase

    resident = common.resident_of(tracker)
    own = own_place(problem, tracker) if problem else None
    parts = own or {k: tracker.get_slot(k) for k in PLACE_PARTS}
    phone = tracker.get_slot("phone")
    key = tracker.get_slot("description_key") or common.message_key(tracker)
    return NewCase(
        channel=resident.channel,
        idempotency_key=f"{tracker.sender_id}:{key}" + (f"#{index}" if problem else ""),
        description=problem["text"] if problem else tracker.get_slot("description"),
        category=Category(problem["category"] if problem else tracker.get_slot("category")),
        place=Place(**parts) if any(parts.values()) else None,
        address=Place(**own).text() if own else tracker.get_slot("place"),
        lat=None if own else tracker.get_slot("lat"),
        lon=None if own else tracker.get_slot("lon"),
        phone=None if phone in (None, SKIPPED) else phone,
        resident=resident,
        urgent=urgent,
        photos=list(tracker.get_slot("photos") or []),
        anonymous=not urgent and common.anonymous_asked(tracker),
    )


ANONYMOUS_NOTE = "您是匿名反映的：工作人员看不到您的姓名和电话，办理进展仍会告诉您。"


def utter_opened(dispatcher: CollectingDispatcher, result, anonymous: bool = False) -> None:
    if result.merged_into:
        dispatcher.utter_message(response="utter_case_merged", case_no=result.merged_into)
        if anonymous:
            dispatcher.utter_message(text=ANONYMOUS_NOTE)
        return
    who = result.assignee_name or "社区值班人员"
    lines = [
        f"已受理！工单号 {result.case_no}",
        f"类别：{Category(result.category).label}",
        f"承办网格：{result.public_grid_name or result.grid_name or '社区服务台'}",
        f"网格员：{who}" + (f"（{result.assignee_phone}）" if result.assignee_phone else ""),
        f"办理时限：{common.format_deadline(result.resolve_deadline)}",
        "有进展会第一时间告诉您，随时发「我的工单」查看。",
    ]
    if anonymous:
        lines.insert(1, ANONYMOUS_NOTE)
    dispatcher.utter_message(text="\n".join(lines))


class ActionCancel(Action):
    """Cancel whatever is being filled in; who the resident is stays known."""

    def name(self) -> str:
        return "action_cancel"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        if not tracker.active_loop.get("name"):
            dispatcher.utter_message(response="utter_nothing_to_cancel")
            return [ActiveLoop(None), SlotSet("requested_slot", None)]
        dispatcher.utter_message(response="utter_report_cancelled")
        return ([ActiveLoop(None), SlotSet("requested_slot", None)] + reset_report()
                + [SlotSet(slot, None) for slot in OTHER_FORM_SLOTS])


class ActionTriage(Action):
    """A message the classifier is unsure about: a report to ask about, or not one at all."""

    def name(self) -> str:
        return "action_triage"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        from nlu.decision import decide_category

        ranking = tracker.latest_message.get("intent_ranking") or []
        decision = decide_category(ranking, common.settings().nlu_confidence_threshold)
        if decision.ask_with_buttons or decision.category:
            return [SlotSet("looks_like_report", True)]
        dispatcher.utter_message(response="utter_out_of_scope")
        return [SlotSet("looks_like_report", False)]

