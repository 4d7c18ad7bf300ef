"""Grid staff (网格员): case cards, 签收 / 进展 / 办结 / 上报 / 退回, and /tasks.

Staff are known by their numeric Telegram user id (``minsheng staff add``). Every button
press is checked against the database: the presser must be staff and allowed to act on
that case; anything else is refused and logged.
"""
from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

from telegram import ForceReply, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ApplicationHandlerStop, ContextTypes, filters

from bot import render
from bot.gateway import gateway_of
from bot.resident import answer_quietly
from minsheng import staff_actions
from minsheng.clock import utcnow
from minsheng.db import Database
from minsheng.errors import DomainError
from minsheng.services import access, cases, contact, cosign
from minsheng.services import staff as staff_service

log = logging.getLogger(__name__)

PREFIX = render.STAFF_PREFIX
CASE_NO = r"(MS-\d{8}-\d{4,6})"
# Everything below comes from the one table of staff actions (minsheng.staff_actions).
TELEGRAM_ACTIONS = {a.key: a for a in staff_actions.STAFF_ACTIONS.values()
                    if staff_actions.TELEGRAM in a.channels}
LEGACY_KEYS = {"ack": "acknowledge"}  # callback data on cards sent before the table
PHONE = render.PHONE_KEY  # not a state change: the handler asks for the call-back number
CALLBACK = re.compile(
    rf"^s:({'|'.join(map(re.escape, [*TELEGRAM_ACTIONS, *LEGACY_KEYS, PHONE]))}):{CASE_NO}$")
# Actions that need a note ask for it by ForceReply; the prompt's first line names it:
# "✍️ 办结说明｜MS-20261122-0007", and the reply is matched back by that label.
NOTE_ACTIONS = {a.note_label: a.key for a in TELEGRAM_ACTIONS.values()
                if a.note_required or a.fields}  # 退单 (其他), 申请延期, 加签 ask too
# An action with choices (退单 reasons) offers them first: "s:return.incomplete:MS-…".
CHOICE = re.compile(rf"^s:(\w+)\.(\w+):{CASE_NO}$")
PROMPT_HINTS = {"request_extension": "格式：天数 原因，例如「3 等待燃气公司上门检修」。",
                "cosign": "请回复协办网格的网格编码（或工作人员编号）。",
                "return": "请写明退单的具体原因。"}
PROMPT = re.compile(rf"^✍️ ({'|'.join(map(re.escape, NOTE_ACTIONS))})｜{CASE_NO}")


@dataclass(frozen=True)
class Outcome:
    """What to tell the staff member after an action."""

    text: str
    card: object | None = None  # the case view to redraw
    relation: str | None = "owner"  # what the person is to the case (their buttons)


# -- who may do what ---------------------------------------------------------------------
def find_staff_id(db: Database, telegram_user_id: int) -> int | None:
    with db.uow() as uow:
        member = staff_service.find_by_telegram(uow, telegram_user_id)
        return member.id if member is not None else None


def may_act(db: Database, telegram_user_id: int, case_no: str) -> int | None:
    """The staff id if this user is staff and may act on ``case_no`` (its owner, above it,
    or a co-handler, whose service then allows notes only); else None."""
    with db.uow() as uow:
        member = staff_service.find_by_telegram(uow, telegram_user_id)
        if member is None:
            return None
        try:
            allowed = access.staff_relation(uow, member.id, case_no) is not None
        except DomainError:
            return None
        return member.id if allowed else None


def prompt_of(message: Message | None, bot_id: int) -> tuple[str, str] | None:
    """(action, case_no) if ``message`` is a note prompt this bot sent."""
    if message is None or message.from_user is None or message.from_user.id != bot_id:
        return None
    match = PROMPT.match(message.text or "")
    if match is None:
        return None
    return NOTE_ACTIONS[match.group(1)], match.group(2)


class _NoteReply(filters.MessageFilter):
    """A text replying to one of the bot's note prompts."""

    def filter(self, message: Message) -> bool:
        replied = message.reply_to_message
        return bool(message.text and replied and replied.text
                    and PROMPT.match(replied.text))


NOTE_REPLY = _NoteReply(name="staff.NOTE_REPLY")


def is_staff_request(update: Update) -> bool:
    if update.callback_query is not None:
        return (update.callback_query.data or "").startswith(PREFIX)
    message = update.message
    if message is None:
        return False
    if NOTE_REPLY.check_update(update):
        return True
    return bool(message.text and re.match(r"^/tasks(@\w+)?(\s|$)", message.text))


# -- handlers ----------------------------------------------------------------------------
async def require_staff(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Group −1: refuse staff functions to anyone not registered as staff."""
    if not is_staff_request(update):
        return
    user = update.effective_user
    staff_id = await asyncio.to_thread(find_staff_id, gateway_of(context).db, user.id)
    if staff_id is not None:
        return
    log.warning("refused staff request from non-staff user %s: %r", user.id,
                update.callback_query.data if update.callback_query else
                update.effective_message.text)
    if update.callback_query is not None:
        await answer_quietly(update.callback_query, render.NOT_STAFF)
    else:
        await update.effective_message.reply_text(render.NOT_STAFF)
    raise ApplicationHandlerStop


async def tasks(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/tasks: the staff member's open cases with deadlines, each as a card."""
    gateway = gateway_of(context)
    views = await asyncio.to_thread(open_cases, gateway.db, update.effective_user.id,
                                    gateway.settings.timezone)
    shared = await asyncio.to_thread(cohandled_cases, gateway.db, update.effective_user.id)
    message = update.effective_message
    if not views and not shared:
        await message.reply_text(render.NO_OPEN_TASKS)
        return
    for view in shared[:render.MAX_TASK_CARDS]:  # 加签: co-handled, notes only
        await message.reply_text("加签协办：\n" + render.case_card(view, gateway.settings.timezone),
                                 parse_mode=ParseMode.HTML,
                                 reply_markup=render.staff_keyboard(view, "cohandler"))
    if not views:
        return
    await message.reply_text(render.task_list(views, gateway.settings.timezone),
                             parse_mode=ParseMode.HTML)
    for view in views[:render.MAX_TASK_CARDS]:
        await message.reply_text(render.case_card(view, gateway.settings.timezone),
                                 parse_mode=ParseMode.HTML,
                                 reply_markup=render.staff_keyboard(view))


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A staff-action button pressed on a case card (the table's Telegram actions)."""
    query = update.callback_query
    await answer_quietly(query)
    gateway = gateway_of(context)
    user_id = query.from_user.id
    if CHOICE.match(query.data or ""):
        await chose(update, context)
        return
    match = CALLBACK.match(query.data or "")
    case_no = match.group(2) if match else None
    staff_id = await asyncio.to_thread(may_act, gateway.db, user_id, case_no) if match else None
    if staff_id is None:
        log.warning("refused staff callback %r from user %s: forged or not their case",
                    query.data, user_id)
        await context.bot.send_message(user_id, render.NOT_YOUR_CASE)
        return
    if match.group(1) == PHONE:
        text = await asyncio.to_thread(reveal_phone, gateway.db, staff_id, case_no)
        await context.bot.send_message(user_id, text)
        return
    action = TELEGRAM_ACTIONS[LEGACY_KEYS.get(match.group(1), match.group(1))]
    if action.choices:
        await context.bot.send_message(user_id, f"请选择{action.label}原因：{case_no}",
                                       reply_markup=render.choice_keyboard(action, case_no))
        return
    if action.note_required or action.fields:
        await ask_note(context, user_id, action, case_no)
        return
    outcome = await asyncio.to_thread(act, gateway.db, staff_id, action.key, case_no, None)
    await report(update, context, outcome)


async def ask_note(context, user_id: int, action, case_no: str) -> None:
    """The ForceReply prompt for an action's note (with how to write it, where needed)."""
    hint = PROMPT_HINTS.get(action.key)
    text = render.note_prompt(action.note_label, case_no) + (f"\n{hint}" if hint else "")
    await context.bot.send_message(
        user_id, text,
        reply_markup=ForceReply(selective=True, input_field_placeholder="请输入说明"))


async def chose(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """One of an action's choices pressed (退单 reason): run it, or ask the note for 其他."""
    query = update.callback_query
    gateway = gateway_of(context)
    user_id = query.from_user.id
    key, code, case_no = CHOICE.match(query.data or "").groups()
    action = TELEGRAM_ACTIONS.get(key)
    staff_id = await asyncio.to_thread(may_act, gateway.db, user_id, case_no)
    if action is None or code not in dict(action.choices) or staff_id is None:
        log.warning("refused staff choice %r from user %s", query.data, user_id)
        await context.bot.send_message(user_id, render.NOT_YOUR_CASE)
        return
    if code == "other":
        await ask_note(context, user_id, action, case_no)
        return
    outcome = await asyncio.to_thread(act, gateway.db, staff_id, key, case_no, None,
                                      reason_code=code)
    await report(update, context, outcome)


async def note(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A reply to a note prompt (进展 / 办结 / 退回): record the action with the note."""
    gateway = gateway_of(context)
    message = update.effective_message
    prompt = prompt_of(message.reply_to_message, context.bot.id)
    if prompt is None:
        await message.reply_text(render.NOT_YOUR_CASE)
        return
    action, case_no = prompt
    staff_id = await asyncio.to_thread(may_act, gateway.db, update.effective_user.id, case_no)
    if staff_id is None:
        log.warning("refused %s note on %s from user %s", action, case_no,
                    update.effective_user.id)
        await message.reply_text(render.NOT_YOUR_CASE)
        return
    code = "other" if TELEGRAM_ACTIONS[action].choices else None  # 退单: the note is 其他
    outcome = await asyncio.to_thread(act, gateway.db, staff_id, action, case_no,
                                      message.text.strip(), reason_code=code)
    await report(update, context, outcome)


async def unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Callback data that is neither a staff nor a resident button: refused."""
    query = update.callback_query
    await answer_quietly(query, render.UNKNOWN_BUTTON)
    log.warning("refused unknown callback %r from user %s", query.data, query.from_user.id)


async def report(update: Update, context: ContextTypes.DEFAULT_TYPE, outcome: Outcome) -> None:
    """Tell the staff member what happened; redraw the card when it changed."""
    gateway = gateway_of(context)
    chat_id = update.effective_chat.id
    query = update.callback_query
    if outcome.card is not None and query is not None and query.message is not None:
        try:
            await query.edit_message_text(
                render.case_card(outcome.card, gateway.settings.timezone),
                parse_mode=ParseMode.HTML,
                reply_markup=render.staff_keyboard(outcome.card, outcome.relation))
        except BadRequest as error:  # e.g. "message is not modified" on a repeated press
            log.info("case card for %s not redrawn: %s", outcome.card.case_no, error)
    await context.bot.send_message(chat_id, outcome.text)


# -- the case services -------------------------------------------------------------------
def act(db: Database, staff_id: int, action: str, case_no: str, note: str | None,
        reason_code: str | None = None) -> Outcome:
    """Run one staff action in its own unit of work; domain errors become the answer."""
    label = staff_actions.get(action).label
    with db.uow() as uow:
        try:
            staff_actions.perform(uow, action, staff_actions.Request(
                case_no, staff_id, note or "", reason_code=reason_code))
            uow.commit()
        except DomainError as error:
            return Outcome(f"{label}未完成：{error}")
        view = cases.get_case(uow, case_no)
        relation = access.staff_relation(uow, staff_id, case_no)
    return Outcome(render.action_done(label, case_no), view, relation)


def reveal_phone(db: Database, staff_id: int, case_no: str) -> str:
    """The resident's full phone for the handler after 签收, the view recorded."""
    with db.uow() as uow:
        try:
            phone = contact.reveal_phone(uow, case_no, staff_id, utcnow())
        except DomainError as error:
            return str(error)
        uow.commit()
    return render.resident_phone(case_no, phone)


def open_cases(db: Database, telegram_user_id: int, timezone: str) -> list:
    with db.uow() as uow:
        member = staff_service.find_by_telegram(uow, telegram_user_id)
        if member is None:
            return []
        return list(cases.open_cases_of_staff(uow, member.id))


def cohandled_cases(db: Database, telegram_user_id: int) -> list:
    """Open cases this staff member co-handles (加签), as views."""
    with db.uow() as uow:
        member = staff_service.find_by_telegram(uow, telegram_user_id)
        if member is None:
            return []
        return cosign.open_views_of(uow, member.id)
