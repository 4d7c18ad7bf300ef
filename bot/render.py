"""Everything the gateway says, and how Rasa's answers become Telegram messages.

Rasa's texts and every user-supplied string are sent without a parse mode, or escaped
with ``html.escape`` when a message uses HTML (staff case cards).
"""
from __future__ import annotations

import html
from dataclasses import dataclass

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.core.texts import BUSY, NO_REPLY  # noqa: F401  (shared with every channel)
from minsheng import staff_actions
from minsheng.clock import format_local
from minsheng.enums import CATEGORY_LABELS, STATE_LABELS, CaseState, Category
from minsheng.services import contact

TELEGRAM_TEXT_LIMIT = 4096

HELP = (
    "我可以帮您：\n"
    "· 反映问题：直接描述，例如「3号楼楼道堆满杂物」\n"
    "· 发送照片、位置、联系电话，补充情况\n"
    "· 查询进度：「我的工单」\n"
    "· 撤回工单、对办结结果评价\n"
    "命令：/start 开始  /help 帮助  /cancel 取消当前操作"
)
WAIT = "正在处理，请稍等…"  # Rasa is slow to answer (a service restarting, a busy database)
EMPTY_MESSAGE = "没有收到文字内容。请用文字描述您遇到的问题，或发送照片、位置。"
UNSUPPORTED = (
    "暂时只能接收文字、照片、位置和联系电话（贴纸、语音、视频等暂不支持）。"
    "请用文字描述您遇到的问题。"
)
PHOTO_TOO_LARGE = "照片太大（超过 {limit} MB），请压缩后再发送。"
PHOTO_FAILED = "照片没有收到完整，请重新发送一次。"
BUTTON_EXPIRED = "这个按钮已失效，请直接输入您的回答，或重新发送问题。"
NOT_STAFF = "此功能仅供登记在册的网格员使用。"
NOT_YOUR_CASE = "您无权处理该工单，操作未执行。"
UNKNOWN_BUTTON = "无法识别的操作，已忽略。"
NO_OPEN_TASKS = "您当前没有待办工单。"
TEXT_TRIMMED_NOTE = "（内容较长，已完整保存）"
NOT_PRIVATE_CHAT = "请私聊我反映问题。"
EDITED = "修改过的消息不会重新处理。如需补充或更正，请直接再发一条新消息。"


def escape(text: object) -> str:
    """Escape a user-supplied value for ``parse_mode=HTML``."""
    return html.escape(str(text), quote=False)


def split_for_telegram(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Split a long text at line breaks into pieces Telegram accepts."""
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > limit // 2 else limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text:
        pieces.append(text)
    return pieces


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to send: text or photo, with an optional keyboard."""

    text: str = ""
    photo: str | None = None
    markup: InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None = None


def inline_keyboard(buttons: list[tuple[str, str]], per_row: int = 2) -> InlineKeyboardMarkup:
    """``(title, callback_data)`` pairs as an inline keyboard, ``per_row`` to a row."""
    rows = [
        [InlineKeyboardButton(title, callback_data=data) for title, data in buttons[i:i + per_row]]
        for i in range(0, len(buttons), per_row)
    ]
    return InlineKeyboardMarkup(rows)


def request_keyboard(custom: dict) -> ReplyKeyboardMarkup | ReplyKeyboardRemove | None:
    """Rasa ``custom`` → a reply keyboard asking for location / contact, or removing it.

    Understood keys: ``request_location`` (bool or button title), ``request_contact``
    (bool or button title), ``remove_keyboard`` (bool).
    """
    if custom.get("remove_keyboard"):
        return ReplyKeyboardRemove()
    buttons = []
    if custom.get("request_location"):
        title = custom["request_location"]
        buttons.append(KeyboardButton(title if isinstance(title, str) else "📍 发送位置",
                                      request_location=True))
    if custom.get("request_contact"):
        title = custom["request_contact"]
        buttons.append(KeyboardButton(title if isinstance(title, str) else "📞 发送手机号",
                                      request_contact=True))
    if not buttons:
        return None
    return ReplyKeyboardMarkup([buttons], resize_keyboard=True, one_time_keyboard=True)


def choice_made(original_text: str, title: str) -> str:
    """The text of a message after the resident pressed one of its buttons."""
    return f"{original_text}\n\n👉 已选择：{title}"


# -- staff -------------------------------------------------------------------------------
MAX_TASK_CARDS = 10
STAFF_PREFIX = "s:"
PHONE_KEY = "phone"
ANONYMOUS_LINE = "反映人：匿名（不显示姓名和电话）"


def _code(value: object) -> str:
    return str(getattr(value, "value", value))


def case_card(case, timezone: str) -> str:
    """A case for staff, HTML; every resident-supplied field escaped."""
    state = _code(case.state)
    category = _code(case.category)
    lines = [
        f"<b>工单 {escape(case.case_no)}</b>" + ("（紧急）" if case.urgent else ""),
        f"类别：{escape(CATEGORY_LABELS.get(Category(category), category))}",
        f"状态：{escape(STATE_LABELS.get(CaseState(state), state))}",
        f"地点：{escape(case.address or '—')}",
        f"描述：{escape(case.description)}",
        ANONYMOUS_LINE if getattr(case, "anonymous", False)
        else f"电话：{escape(case.phone or '—')}",
        (f"签收时限：{format_local(case.ack_deadline, timezone)}　"
         f"办结时限：{format_local(case.resolve_deadline, timezone)}"),
    ]
    if getattr(case, "pending_extension", None):
        lines.append(f"延期申请（待审批）：{escape(case.pending_extension)}")
    if getattr(case, "cohandlers", None):
        lines.append(f"加签协办：{escape('、'.join(case.cohandlers))}")
    return "\n".join(lines)


def staff_callback(key: str, case_no: str) -> str:
    """The callback data of a staff button, ``s:<action>:<case_no>`` (≤ 64 bytes)."""
    return f"{STAFF_PREFIX}{key}:{case_no}"


def staff_keyboard(case, relation: str | None = "owner") -> InlineKeyboardMarkup | None:
    """The actions the staff-action table offers on Telegram in the case's state to one
    person (``relation``: owner, supervisor, cohandler — access.relation), and for the
    owner once acknowledged, a button for the resident's full phone (each press recorded)."""
    actions = staff_actions.offered_to(case, staff_actions.TELEGRAM, relation,
                                       pending_extension=bool(
                                           getattr(case, "pending_extension", None)))
    buttons = [(a.label, staff_callback(a.key, case.case_no)) for a in actions]
    if relation == "owner" and case.phone \
            and _code(case.state) in {s.value for s in contact.REVEALED_IN}:
        buttons.append(("居民电话", staff_callback(PHONE_KEY, case.case_no)))
    return inline_keyboard(buttons, per_row=3) if buttons else None


def notice_keyboard(case, payload: dict) -> InlineKeyboardMarkup | None:
    """The buttons of a staff notice: the owner's actions only for the case's owner at
    sending time; an approver gets 同意 / 不同意延期, a co-handler 进展; anyone else none
    (the worker a case moved away from); a supervisor told of it (督办) gets 催办."""
    to, relation = payload.get("to_staff_id"), payload.get("relation")
    if to is None and relation is None:  # a row queued before notices named their reader
        return staff_keyboard(case)
    if to is not None and to == case.assignee_id:
        return staff_keyboard(case)
    if relation == "approver":
        actions = [a for a in staff_actions.offered_to(
            case, staff_actions.TELEGRAM, "supervisor",
            pending_extension=bool(getattr(case, "pending_extension", None)))
            if a.needs_pending_extension]
        buttons = [(a.label, staff_callback(a.key, case.case_no)) for a in actions]
        return inline_keyboard(buttons) if buttons else None
    if relation == "cohandler":
        return staff_keyboard(case, "cohandler")
    if relation == "supervisor":  # 督办: the supervisor's own action (催办), not the owner's
        actions = [a for a in staff_actions.offered_to(case, staff_actions.TELEGRAM,
                                                       "supervisor")
                   if a.who == staff_actions.SUPERVISOR]
        buttons = [(a.label, staff_callback(a.key, case.case_no)) for a in actions]
        return inline_keyboard(buttons) if buttons else None
    return None


def choice_keyboard(action, case_no: str) -> InlineKeyboardMarkup:
    """An action's choices (退单 reasons) as buttons ``s:<action>.<code>:<case_no>``."""
    return inline_keyboard([(label, f"{STAFF_PREFIX}{action.key}.{code}:{case_no}")
                            for code, label in action.choices])


def resident_phone(case_no: str, phone: str) -> str:
    return f"工单 {case_no} 居民电话：{phone}\n（仅供回访联系，本次查看已记录）"


def task_list(cases, timezone: str) -> str:
    lines = [f"<b>您有 {len(cases)} 件待办工单</b>"]
    for case in cases:
        state = _code(case.state)
        lines.append(
            f"· {escape(case.case_no)} {escape(STATE_LABELS.get(CaseState(state), state))}"
            f"，办结时限 {format_local(case.resolve_deadline, timezone)}"
        )
    if len(cases) > MAX_TASK_CARDS:
        lines.append(f"（以下显示前 {MAX_TASK_CARDS} 件的处理卡片）")
    return "\n".join(lines)


def note_prompt(what: str, case_no: str) -> str:
    """The first line is parsed back from the staff member's reply (see staff.PROMPT)."""
    return f"✍️ {what}｜{case_no}\n请直接回复本条消息，写下{what}。"


def action_done(label: str, case_no: str) -> str:
    return f"已{label}：{case_no}"
