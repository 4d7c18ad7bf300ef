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
from types import SimpleNamespace

from telegram import ForceReply, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ApplicationHandlerStop, ContextTypes, filters

from bot import delivery, render
from bot.core import outbox
from bot.core.inbound import InboundStore
from bot.gateway import gateway_of
from bot.resident import answer_quietly
from minsheng import staff_actions
from minsheng.clock import utcnow
from minsheng.db import Database
from minsheng.enums import Channel, Handling
from minsheng.errors import DomainError
from minsheng.services import access, cases, contact, cosign, methods
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
PROMPT_HINTS = {"request_extension": "格式：工作日数 原因，例如「3 等待燃气公司上门检修」。",
                "cosign": "请回复协办网格的网格编码（或工作人员编号）。",
                "return": "请写明退单的具体原因。"}
PROMPT = re.compile(rf"^✍️ ({'|'.join(map(re.escape, NOTE_ACTIONS))})｜{CASE_NO}")
# 办结 in steps: the method (s:m:CODE:IDS:CASE), for 街道吹哨 / 转办 the departments picked one
# press at a time (s:d:CODE:IDS:CASE, IDS the selection so far, "1.4"), then the note
# prompt — with the method on its first line — answered by text or a photo with a caption.
RESOLVE_STEP = re.compile(rf"^s:([md]):([a-z_]+):([\d.]*):{CASE_NO}$")
RESOLVE_PROMPT = re.compile(rf"^✍️ 办结说明｜{CASE_NO}｜([a-z_]+):([\d.]*)")
MAX_CALLBACK = 64  # bytes of callback_data Telegram accepts


@dataclass(frozen=True)
class Outcome:
    """What to tell the staff member after an action."""

    text: str
    card: object | None = None  # the case view to redraw
    relation: str | None = "owner"  # what the person is to the case (their buttons)
    row: int | None = None  # the answer's outbox row, sent by ``report``


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


NOT_YOURS_TO_DO = "这项操作不由您办理（协办人只能填写进展，办结由主办人完成）。"


def may_use(db: Database, staff_id: int, case_no: str, action) -> bool:
    """Whether this staff member's relation to the case (owner, supervisor, co-handler)
    lets them use ``action`` — the table's rule, checked before a step is offered."""
    with db.uow() as uow:
        try:
            return action.for_relation(access.staff_relation(uow, staff_id, case_no))
        except DomainError:
            return False


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
        return bool((message.text or message.caption) and replied and replied.text
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
    if RESOLVE_STEP.match(query.data or ""):
        await resolve_step(update, context)
        return
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
    if not await asyncio.to_thread(may_use, gateway.db, staff_id, case_no, action):
        # refused at the press, before any step or prompt (a co-handler's old 办结 button)
        await context.bot.send_message(user_id, f"{action.label}未完成：{NOT_YOURS_TO_DO}")
        return
    if action.key == "resolve":
        await context.bot.send_message(user_id, f"办结 {case_no}：请选择处理方式",
                                       reply_markup=method_keyboard(case_no))
        return
    if action.choices:
        await context.bot.send_message(user_id, f"请选择{action.label}原因：{case_no}",
                                       reply_markup=render.choice_keyboard(action, case_no))
        return
    if action.note_required or action.fields:
        await ask_note(context, user_id, action, case_no)
        return
    await run_action(update, context, staff_id, action.key, case_no, None)


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
    await run_action(update, context, staff_id, key, case_no, None, reason_code=code)


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
    extra = {}
    if action == "resolve":
        extra = await resolve_details(update, context)
        if extra is None:  # the photo was refused; the staff member was told why
            return
    if TELEGRAM_ACTIONS[action].choices:  # 退单: a typed reason is 其他
        extra["reason_code"] = "other"
    await run_action(update, context, staff_id, action, case_no,
                     (message.text or message.caption or "").strip(), **extra)


async def unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Callback data that is neither a staff nor a resident button: refused."""
    query = update.callback_query
    await answer_quietly(query, render.UNKNOWN_BUTTON)
    log.warning("refused unknown callback %r from user %s", query.data, query.from_user.id)


async def run_action(update: Update, context: ContextTypes.DEFAULT_TYPE, staff_id: int,
                     action: str, case_no: str, note: str | None, **extra) -> None:
    """``act`` for the update being handled, then ``report``; nothing when the update was
    answered before (taken again after its answer was kept)."""
    gateway = gateway_of(context)
    outcome = await asyncio.to_thread(
        act, gateway.db, gateway.inbound, gateway.inbound_key(update), update.effective_chat.id,
        staff_id, action, case_no, note, **extra)
    if outcome is None:
        log.info("staff update %s was answered before; %s on %s not run again",
                 update.update_id, action, case_no)
        return
    await report(update, context, outcome)


async def report(update: Update, context: ContextTypes.DEFAULT_TYPE, outcome: Outcome) -> None:
    """Tell the staff member what happened (the kept answer, sent now); redraw the card when
    it changed."""
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
    await delivery.send_rows(gateway.db, chat_id, [(outcome.row, {"text": outcome.text})],
                             lambda reply: context.bot.send_message(chat_id, reply["text"]))


# -- the case services -------------------------------------------------------------------
def act(db: Database, inbox: InboundStore, key: str, chat_id: int, staff_id: int,
        action: str, case_no: str, note: str | None, **extra) -> Outcome | None:
    """Run one staff action in its own unit of work; domain errors become the answer.

    The change, its answer (an outbox row for ``chat_id``) and the press or note (inbound
    ``key``) marked answered are one transaction: an update taken again after a crash or a
    lost mark (the database restarted) finds itself answered and does nothing — None — so
    the action never runs twice and a later state never answers an old press.

    ``extra``: 办结's photos, handling_method, department_ids and settings; 退单's
    reason_code."""
    label = staff_actions.get(action).label
    view = relation = None
    with db.uow() as uow:
        if inbox.answered_already(key)(uow):
            return None
        try:
            staff_actions.perform(uow, action, staff_actions.Request(case_no, staff_id,
                                                                     note or "", **extra))
            uow.session.flush()
        except DomainError as error:
            uow.session.rollback()  # nothing of a refused action is kept
            text = f"{label}未完成：{error}"
        else:  # the card to redraw, read in the same transaction as the change
            text = render.action_done(label, case_no)
            view = cases.get_case(uow, case_no)
            relation = access.staff_relation(uow, staff_id, case_no)
        now = utcnow()
        [due] = outbox.keep_in(uow, Channel.telegram, str(chat_id), [{"text": text}], now)
        inbox.answered(key)(uow, now)
        uow.commit()
    return Outcome(text, view, relation, due.id)


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


# -- 办结 in steps: method, departments, note (and photo) ------------------------------------
def method_keyboard(case_no: str):
    return render.inline_keyboard([(label, f"s:m:{m.value}::{case_no}")
                                   for m, label in methods.LABELS.items()], per_row=3)


def department_keyboard(code: str, picked: list[int], choices, case_no: str):
    """One button per active department (✅ when picked: pressing toggles it), then 选好了."""
    buttons = []
    for department in choices:
        chosen = department.id in picked
        after = [i for i in picked if i != department.id] if chosen else [*picked, department.id]
        data = f"s:d:{code}:{'.'.join(map(str, after))}:{case_no}"
        if len(data.encode()) <= MAX_CALLBACK:
            buttons.append((("✅ " if chosen else "") + department.name, data))
    if picked:
        buttons.append(("选好了", f"s:m:{code}:{'.'.join(map(str, picked))}:{case_no}"))
    return render.inline_keyboard(buttons, per_row=2)


def resolve_context(db: Database, case_no: str, picked: list[int], settings):
    """(active departments, names of the picked ones, whether a photo is required)."""
    with db.uow() as uow:
        choices = [(d.id, d.name) for d in methods.active_departments(uow.session)]
        view = cases.get_case(uow, case_no)
    names = [name for i, name in choices if i in picked]
    required = {str(c) for c in getattr(settings, "resolve_photo_categories", [])}
    return choices, names, str(view.category) in required


async def resolve_step(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A 办结 step button: a method chosen, or a department picked; then the note prompt."""
    query = update.callback_query
    await answer_quietly(query)
    gateway = gateway_of(context)
    step, code, ids, case_no = RESOLVE_STEP.match(query.data).groups()
    staff_id = await asyncio.to_thread(may_act, gateway.db, query.from_user.id, case_no)
    method = Handling(code) if code in Handling.__members__ else None
    if staff_id is None or method is None:
        await context.bot.send_message(query.from_user.id, render.NOT_YOUR_CASE)
        return
    picked = [int(i) for i in ids.split(".") if i]
    choices, names, photo = await asyncio.to_thread(resolve_context, gateway.db, case_no,
                                                    picked, gateway.settings)
    label = methods.LABELS[method]
    if method in methods.NEEDS_DEPARTMENTS and (step == "d" or not picked):
        if not choices:
            await context.bot.send_message(query.from_user.id,
                                           f"尚未登记职能部门，不能选择「{label}」，请联系管理员。")
            return
        options = [SimpleNamespace(id=i, name=n) for i, n in choices]
        await context.bot.send_message(
            query.from_user.id, f"{label} {case_no}：请选择部门（可多选），选好后按「选好了」"
            + (f"\n已选：{'、'.join(names)}" if names else ""),
            reply_markup=department_keyboard(code, picked, options, case_no))
        return
    lines = [f"✍️ 办结说明｜{case_no}｜{code}:{ids}",
             f"处理方式：{label}" + (f"（{'、'.join(names)}）" if names else ""),
             "请直接回复本条消息，写下办结说明。"]
    if photo:
        lines.append("本类工单办结须附现场照片：请回复一张照片，并在照片说明里写办结说明。")
    await context.bot.send_message(
        query.from_user.id, "\n".join(lines),
        reply_markup=ForceReply(selective=True, input_field_placeholder="请输入办结说明"))


async def resolve_details(update: Update, context: ContextTypes.DEFAULT_TYPE) -> dict | None:
    """办结's method and departments from the prompt replied to, and the photo sent with the
    reply (None when the photo was refused)."""
    from bot.resident import save_photo

    message = update.effective_message
    extra = {"settings": gateway_of(context).settings}
    match = RESOLVE_PROMPT.match(message.reply_to_message.text or "")
    if match is not None:
        extra["handling_method"] = match.group(2)
        extra["department_ids"] = tuple(int(i) for i in match.group(3).split(".") if i)
    if message.photo:
        path = await save_photo(update, context, message.photo[-1])
        if path is None:
            return None
        extra["photos"] = (str(path),)
    return extra
