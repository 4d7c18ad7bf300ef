"""Residents: what they send goes to Rasa's REST channel; Rasa's answers come back.

Only the gateway makes ``/intent{...}`` messages (location, photo, contact, commands,
offered buttons). Text a resident types is never read by Rasa as an intent.
"""
from __future__ import annotations

import asyncio
import logging
import re
import uuid
from pathlib import Path

from telegram import InputFile, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot import delivery, render
from bot.core import replay
from bot.core.inbound import RASA_UNAVAILABLE
from bot.core.rasa import RasaUnavailable, intent_message, neutralise
from bot.gateway import Gateway, gateway_of
from minsheng.clock import utcnow
from minsheng.images import UploadError, check_image

log = logging.getLogger(__name__)

# Our commands become these trusted intents (names from data/nlu).
COMMAND_INTENTS = {"start": "/greet", "help": "/help", "cancel": "/cancel"}
PHONE_DIGITS = re.compile(r"\D")


def normalise_phone(phone: str) -> str:
    digits = PHONE_DIGITS.sub("", phone)
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits


def sender_id(user_id: int) -> str:
    return f"telegram:{user_id}"


# -- handlers --------------------------------------------------------------------------
async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: welcome, and let the dialogue greet."""
    await converse(update, context, COMMAND_INTENTS["start"])


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: what the bot can do."""
    await update.effective_message.reply_text(render.HELP)


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cancel: stop whatever the dialogue is doing."""
    await converse(update, context, COMMAND_INTENTS["cancel"])


async def text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Typed text (including unknown /commands) → Rasa as plain text."""
    typed = neutralise(update.effective_message.text or "")
    if not typed:  # nothing visible: empty, or only zero-width or control characters
        await update.effective_message.reply_text(render.EMPTY_MESSAGE)
        return
    limit = gateway_of(context).options.max_rasa_text
    await converse(update, context, typed[:limit])


async def photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A photo (随手拍): saved under photos_dir, then ``/send_photo`` to Rasa."""
    message = update.effective_message
    if message.photo:
        attachment = message.photo[-1]
    else:
        attachment = message.document
    path = await save_photo(update, context, attachment)
    if path is None:
        return
    caption = neutralise(message.caption or "")
    if caption:
        limit = gateway_of(context).options.max_rasa_text
        await converse(update, context, caption[:limit], final=False)
    await converse(update, context, intent_message("send_photo", photo=str(path)))


async def location(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A shared map location → ``/share_location``."""
    place = update.effective_message.location
    await converse(update, context,
                   intent_message("share_location", lat=place.latitude, lon=place.longitude))


async def contact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A shared contact → ``/provide_phone`` with the digits only."""
    phone = normalise_phone(update.effective_message.contact.phone_number)
    await converse(update, context, intent_message("provide_phone", phone=phone))


async def edited(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An edited message: the first version was answered; say so, change nothing."""
    await context.bot.send_message(update.effective_chat.id, render.EDITED)


async def unsupported(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, voice, video …: say what we accept."""
    await update.effective_message.reply_text(render.UNSUPPORTED)


async def not_private(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Messages in groups: residents talk to the bot privately."""
    if update.effective_message and update.effective_message.text:
        await update.effective_message.reply_text(render.NOT_PRIVATE_CHAT)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A resident pressed a button: forward its payload only if it was offered here."""
    query = update.callback_query
    await answer_quietly(query)
    gateway = gateway_of(context)
    chat_id = update.effective_chat.id if update.effective_chat else query.from_user.id
    offered = gateway.buttons.lookup(chat_id, query.data or "")
    if offered is None:  # offered before this process started? the outbox kept it
        for title, payload in await asyncio.to_thread(delivery.offered_buttons, gateway.db,
                                                      chat_id):
            gateway.buttons.offer(chat_id, title, payload)
        offered = gateway.buttons.lookup(chat_id, query.data or "")
    if offered is None:
        log.warning("refused callback %r from user %s in chat %s: not offered to this chat",
                    query.data, query.from_user.id, chat_id)
        await context.bot.send_message(chat_id, render.BUTTON_EXPIRED)
        return
    if query.message is not None and isinstance(query.message, Message):
        try:
            await query.edit_message_text(render.choice_made(query.message.text or "",
                                                             offered.title))
        except BadRequest:
            pass  # already edited by an earlier press, or not a text message
    await converse(update, context, offered.payload)


async def answer_quietly(query, text: str | None = None) -> None:
    """``query.answer()``, tolerating a query too old to answer (a retried update)."""
    try:
        await query.answer(text, show_alert=bool(text))
    except BadRequest as error:
        log.info("callback query %s not answered: %s", query.id, error)


# -- the turn ----------------------------------------------------------------------------
# An update Rasa answered with nothing is retried at most ``empty_attempts`` times.
EMPTY_TURN = replay.EMPTY_TURN


async def converse(update: Update, context: ContextTypes.DEFAULT_TYPE, rasa_text: str,
                   final: bool = True) -> None:
    """One turn with Rasa for this chat; if Rasa is down or answers nothing, keep the
    update for retry.

    The replies are kept together with the update marked processed (``final``: this is
    the update's last turn), so a crash after Rasa answered neither loses nor repeats it.
    An update a process took before is first looked up in Rasa's tracker (bot.core.replay):
    a turn Rasa took is answered from there, never taken twice.
    """
    gateway = gateway_of(context)
    user = update.effective_user
    chat_id = update.effective_chat.id
    key = gateway.inbound_key(update)
    turn = key if final else f"{key}:caption"  # a photo's caption is a turn of its own
    metadata = {"channel": "telegram", "telegram_user_id": user.id, "chat_id": chat_id,
                "update_id": update.update_id}
    async with gateway.chat_lock(chat_id):
        try:
            seen = gateway.seen(update)
            if seen and not final:
                if await replay.earlier_answer(gateway.rasa, sender_id(user.id), turn):
                    return  # the caption's answer went out with that attempt
                seen = False  # just read: not in the tracker (or put back), so send it
            replies = await gateway.patiently(
                replay.take_turn(gateway.rasa, sender_id(user.id), turn, rasa_text, metadata,
                                 seen),
                update, bot=context.bot)
        except RasaUnavailable as error:
            await keep_for_retry(update, context, gateway, f"{RASA_UNAVAILABLE}{error}")
            return
        if not replies:
            await no_reply(update, context, gateway)
            return
        await deliver(context.bot, gateway, chat_id, replies, inbound_key=key if final else None)


async def no_reply(update: Update, context: ContextTypes.DEFAULT_TYPE,
                   gateway: Gateway) -> None:
    """Rasa answered nothing: a custom action failed (the action server is down) and Rasa
    dropped its events, so the turn changed nothing. Kept and sent again with back-off,
    like a message Rasa did not take; after ``empty_attempts`` the resident is asked to
    send it again."""
    log.warning("Rasa gave no reply to update %s (attempt %s)", update.update_id,
                gateway.attempts(update) + 1)
    if gateway.attempts(update) + 1 < gateway.options.empty_attempts:
        await keep_for_retry(update, context, gateway, EMPTY_TURN)
        return
    await gateway.give_up(update, EMPTY_TURN)
    await context.bot.send_message(update.effective_chat.id, render.NO_REPLY)


async def keep_for_retry(update: Update, context: ContextTypes.DEFAULT_TYPE,
                         gateway: Gateway, error: str) -> None:
    """Rasa is down (or answered nothing): the update stays unprocessed; the resident is
    told once."""
    log.warning("update %s kept for retry: %s", update.update_id, error)
    await gateway.defer(update, error)
    if not gateway.is_first_failure(update):
        return
    sender = sender_id(update.effective_user.id)
    if await asyncio.to_thread(gateway.inbound.has_other_failures, sender,
                               gateway.inbound_key(update)):
        return
    await context.bot.send_message(update.effective_chat.id, render.BUSY)


async def deliver(bot, gateway: Gateway, chat_id: int, replies: list[dict],
                  inbound_key: str | None = None) -> None:
    """Rasa's bot messages: kept in the outbox first (with the update marked processed
    when ``inbound_key`` is given), then sent now; see bot.delivery for what a failure
    does."""
    ids = await asyncio.to_thread(delivery.keep, gateway.db, gateway.inbound, chat_id,
                                replies, inbound_key)
    await delivery.send_rows(gateway.db, chat_id, list(zip(ids, replies)),
                             lambda reply: send_reply(bot, gateway, chat_id, reply))


async def send_reply(bot, gateway: Gateway, chat_id: int, reply: dict) -> None:
    """One Rasa message → Telegram messages (buttons become inline keyboards)."""
    for outgoing in to_outgoing(gateway, chat_id, reply):
        if outgoing.photo:
            await send_photo(bot, gateway, chat_id, outgoing)
        else:
            await bot.send_message(chat_id, outgoing.text, reply_markup=outgoing.markup)


def to_outgoing(gateway: Gateway, chat_id: int, reply: dict) -> list[render.OutgoingMessage]:
    custom = reply.get("custom") if isinstance(reply.get("custom"), dict) else {}
    markup = None
    if reply.get("buttons"):
        pairs = [(b.get("title", "…"), gateway.buttons.offer(chat_id, b.get("title", ""),
                                                              b.get("payload", "")))
                 for b in reply["buttons"]]
        markup = render.inline_keyboard(pairs)
    elif custom:
        markup = render.request_keyboard(custom)
    text_ = reply.get("text") or custom.get("text") or ""
    messages: list[render.OutgoingMessage] = []
    if text_ or markup is not None:
        pieces = render.split_for_telegram(text_ or "请选择：")
        messages += [render.OutgoingMessage(text=p) for p in pieces[:-1]]
        messages.append(render.OutgoingMessage(text=pieces[-1], markup=markup))
    if reply.get("image"):
        messages.append(render.OutgoingMessage(photo=str(reply["image"])))
    return messages


async def send_photo(bot, gateway: Gateway, chat_id: int,
                     outgoing: render.OutgoingMessage) -> None:
    """A URL is passed on; a path is sent only from inside photos_dir."""
    image = outgoing.photo or ""
    if image.startswith(("http://", "https://")):
        await bot.send_photo(chat_id, image, caption=outgoing.text or None)
        return
    path = Path(image).resolve()
    if not path.is_file() or gateway.photos_dir.resolve() not in path.parents:
        log.warning("not sending image %r: not a file under photos_dir", image)
        return
    content = await asyncio.to_thread(path.read_bytes)
    await bot.send_photo(chat_id, InputFile(content, filename=path.name),
                         caption=outgoing.text or None)


# -- photos ------------------------------------------------------------------------------
async def save_photo(update: Update, context: ContextTypes.DEFAULT_TYPE,
                     attachment) -> Path | None:
    """Download to ``photos_dir/<yyyymmdd>/<uuid>.jpg``; None (resident told) if refused.

    The file name derives from Telegram's file_unique_id, so a retried update reuses
    the file instead of saving it twice.
    """
    gateway = gateway_of(context)
    message = update.effective_message
    limit = gateway.options.max_photo_mb * 1024 * 1024
    too_large = render.PHOTO_TOO_LARGE.format(limit=gateway.options.max_photo_mb)
    if attachment.file_size and attachment.file_size > limit:
        await message.reply_text(too_large)
        return None
    day = (message.date or utcnow()).strftime("%Y%m%d")
    name = uuid.uuid5(uuid.NAMESPACE_URL, f"telegram:{attachment.file_unique_id}")
    path = gateway.photos_dir / day / f"{name}.jpg"
    if path.exists():
        return path
    try:
        telegram_file = await context.bot.get_file(attachment.file_id)
        if telegram_file.file_size and telegram_file.file_size > limit:
            await message.reply_text(too_large)
            return None
        content = bytes(await telegram_file.download_as_bytearray())
    except TelegramError as error:
        log.warning("photo download failed for update %s: %s", update.update_id, error)
        await message.reply_text(render.PHOTO_FAILED)
        return None
    try:
        check_image(content, limit)  # a real photo, not a decompression bomb or a document
    except UploadError as refused:
        await message.reply_text(str(refused))
        return None
    await asyncio.to_thread(write_atomically, path, content)
    return path


def write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_bytes(content)
    partial.replace(path)
