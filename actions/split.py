"""Several problems in one report: the offer to file them apart, and a new problem typed
while a report is still being filled in.

The Rasa server splits a message into its problems while it parses it, with the model that
answers every message (nlu/split_at_parse.py); the problems come with the message's parse
data. A message it did not split is filed as one report.

``problems`` holds the parts as plain dicts — ``text``, ``category``, and the place parts
the part names itself (``xiaoqu``, ``building``, ``unit``, ``room``); a part that names no
place is filed at the report's shared ``place``.
"""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import common
from actions.common import entity, latest_intent, latest_text
from minsheng.enums import Category
from nlu.split import PLACE_PARTS, PROBLEMS, problem_of

SPLIT_INTENT = "choose_split"  # buttons only: /choose_split{"choice": …}
SEPARATE, TOGETHER, SAME, NEW = "separate", "together", "same", "new"
# Typed answers: "分别登记" / "作为一件登记", "是新问题" / "补充到刚才那件".
SEPARATE_WORDS = ("分别", "分开", "两件", "各自", "单独")
TOGETHER_WORDS = ("一件", "一起", "合并", "同一")
NEW_WORDS = ("新问题", "另一", "另外", "新的", "单独", "分别", "分开")
SAME_WORDS = ("补充", "同一", "刚才", "一起", "就是这", "同一件")
# Questions a report text cannot be an answer to: it is a new problem, or more about this one.
NEW_PROBLEM_STEPS = {"photos_done", "phone", "confirm"}
NUMBERS = "一二三四五六七八九十"


def label(category: str | None) -> str:
    return Category(category).label if category in Category.__members__ else "未分类"


def own_place(problem: dict[str, Any], tracker: Tracker) -> dict[str, Any] | None:
    """The place parts a problem names itself — with the report's estate when it names only
    a building ("另外5号楼的路灯…") — or None: it is filed at the report's place."""
    own = {k: problem.get(k) for k in PLACE_PARTS}
    if not any(own.values()):
        return None
    return {**own, "xiaoqu": own["xiaoqu"] or tracker.get_slot("xiaoqu")}


def place_text(problem: dict[str, Any], tracker: Tracker) -> str:
    from minsheng.places import Place

    own = own_place(problem, tracker)
    return Place(**own).text() if own else (tracker.get_slot("place") or "未填")


def problems_of_message(tracker: Tracker) -> list[dict[str, Any]] | None:
    """The problems of the resident's latest message when it names several, else None.

    The Rasa server split it while parsing it (nlu/split_at_parse.py): a message it did not
    split, or one parsed by a server without the split, is one report."""
    problems = tracker.latest_message.get(PROBLEMS)
    return problems if isinstance(problems, list) and len(problems) > 1 else None


def pending_from_message(tracker: Tracker) -> dict[str, Any] | None:
    """A confident new report typed at a question it cannot answer; None otherwise."""
    from minsheng.places import parse_place
    from nlu.decision import decide_category

    step = tracker.get_slot("requested_slot")
    text = latest_text(tracker)
    if not text or tracker.get_slot("pending_report") or not tracker.active_loop.get("name"):
        return None
    if not latest_intent(tracker).startswith(common.REPORT_INTENT_PREFIX):
        return None
    place = parse_place(text)
    if step not in NEW_PROBLEM_STEPS and not (step == "place" and place.is_empty):
        return None
    ranking = tracker.latest_message.get("intent_ranking") or []
    decision = decide_category(ranking, common.settings().nlu_confidence_threshold)
    if decision.category is None:
        return None
    return {**problem_of(text, decision.category, place), "step": step}


def _choice(tracker: Tracker, typed_first: tuple[str, ...], first: str,
            typed_second: tuple[str, ...], second: str) -> str:
    if latest_intent(tracker) == SPLIT_INTENT:
        return entity(tracker, "choice") or "?"
    text = latest_text(tracker)
    if any(word in text for word in typed_first):
        return first
    if any(word in text for word in typed_second):
        return second
    return "?"


class SplitSlots:
    """The report form's questions about several problems (mixed into ValidateReportForm)."""

    async def extract_split_confirm(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "split_confirm":
            return {}
        choice = _choice(tracker, SEPARATE_WORDS, SEPARATE, TOGETHER_WORDS, TOGETHER)
        if choice == "?" and latest_intent(tracker) in {"affirm", "deny"}:
            choice = SEPARATE if latest_intent(tracker) == "affirm" else TOGETHER
        return {"split_confirm": choice}

    async def validate_split_confirm(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        problems = tracker.get_slot("problems") or []
        if value == SEPARATE and problems:
            return {"split_confirm": True, "category": problems[0]["category"]}
        if value == TOGETHER:  # one report, classified as a whole as before
            return {"split_confirm": False, "problems": None}
        dispatcher.utter_message(text="请点「分别登记」或「作为一件登记」。")
        return {"split_confirm": None}

    async def extract_new_problem(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "new_problem":
            return {}
        return {"new_problem": _choice(tracker, NEW_WORDS, NEW, SAME_WORDS, SAME)}

    async def validate_new_problem(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        pending = tracker.get_slot("pending_report") or {}
        if value not in (NEW, SAME) or not pending:
            dispatcher.utter_message(text="请点「是另一个新问题」或「补充到刚才这件」。")
            return {"new_problem": None}
        done = {"new_problem": None, "pending_report": None}
        if value == SAME:  # more words about this report: kept with its description
            return {**done, **added_to_description(tracker, pending["text"])}
        problems = list(tracker.get_slot("problems") or [])
        if not problems:  # the report so far becomes the first of two
            problems = [problem_of(tracker.get_slot("description") or "",
                                   tracker.get_slot("category"), None)]
        problems.append({k: v for k, v in pending.items() if k != "step"})
        dispatcher.utter_message(text=f"好的，这是第 {len(problems)} 个问题，提交时会分别登记。")
        return {**done, "problems": problems, "split_confirm": True}


def added_to_description(tracker: Tracker, text: str) -> dict[str, Any]:
    problems = tracker.get_slot("problems")
    if problems:  # several problems: the words go with the last one named
        problems = [*problems[:-1], {**problems[-1], "text": f"{problems[-1]['text']}；{text}"}]
        return {"problems": problems}
    return {"description": f"{tracker.get_slot('description') or ''}；{text}".strip("；")}


def split_payload(choice: str) -> str:
    return f'/{SPLIT_INTENT}{{"choice": "{choice}"}}'


class ActionAskSplitConfirm(Action):
    def name(self) -> str:
        return "action_ask_report_form_split_confirm"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        problems = tracker.get_slot("problems") or []
        count = NUMBERS[len(problems) - 1] if 1 < len(problems) <= 10 else str(len(problems))
        count = "两" if len(problems) == 2 else count
        lines = [f"您说了{count}个问题："]
        lines += [f"{i}. {p['text']}（{label(p['category'])}）" for i, p in enumerate(problems, 1)]
        lines.append("要分别登记吗？分别登记会各生成一张工单，分别派给负责的网格员。")
        dispatcher.utter_message(text="\n".join(lines), buttons=[
            {"title": "分别登记", "payload": split_payload(SEPARATE)},
            {"title": "作为一件登记", "payload": split_payload(TOGETHER)},
        ])
        return []


class ActionAskNewProblem(Action):
    def name(self) -> str:
        return "action_ask_report_form_new_problem"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list:
        pending = tracker.get_slot("pending_report") or {}
        dispatcher.utter_message(
            text=f"您刚说的「{pending.get('text', '')}」（{label(pending.get('category'))}）"
                 "是另一个新问题，还是刚才这件事的补充？",
            buttons=[{"title": "是另一个新问题", "payload": split_payload(NEW)},
                     {"title": "补充到刚才这件", "payload": split_payload(SAME)}])
        return []
