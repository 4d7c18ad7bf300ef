"""The composition root: ``build_application`` is the only place handlers are registered."""
from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError
from telegram import Update
from telegram.error import NetworkError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot import render, resident, staff
from bot.buttons import RESIDENT_PREFIX
from bot.channel import TelegramChannel
from bot.core.outbox import OutboxSender
from bot.gateway import Gateway, GatewayOptions
from bot.inbound import TelegramInbox, retry_unprocessed
from minsheng.db import Database
from minsheng.settings import Settings

log = logging.getLogger(__name__)


class StoringBot(ExtBot):
    """Stores fetched updates before the next ``getUpdates`` confirms them to Telegram.

    While the database is down they cannot be stored: that is reported as a network error,
    so PTB's polling loop backs off (up to 30 s) and fetches the same updates again,
    instead of ending as it does on any other error.
    """

    def __init__(self, *args, inbound: TelegramInbox, gateway: Gateway | None = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._inbound = inbound
        self._gateway = gateway

    async def get_updates(self, *args, **kwargs) -> tuple[Update, ...]:
        updates = await super().get_updates(*args, **kwargs)
        if updates:
            store = asyncio.to_thread(self._inbound.save_all, [u.to_dict() for u in updates])
            try:
                if self._gateway is None:
                    await store
                else:  # a locked database: the residents hear 稍等 while it waits
                    await self._gateway.patiently(store, *updates, bot=self)
            except SQLAlchemyError as error:
                if self._gateway is not None:  # fetched again once the database is back
                    await self._gateway.tell_wait(updates, bot=self)
                raise NetworkError(f"inbound store unavailable: {error}"[:300]) from error
        return updates


class GatewayApplication(Application):
    """Claims each update (stored once, deduplicated) before any handler sees it,
    and runs the inbound retry loop and the outbox sender while it is started."""

    async def start(self) -> None:
        await super().start()
        gateway: Gateway = self.bot_data["gateway"]
        adopted = await asyncio.to_thread(gateway.inbound.adopt_legacy_keys)
        if adopted:
            log.info("%s unanswered updates stored by update id now keyed by message", adopted)
        self.bot_data["background"] = _start_background(self)

    async def stop(self) -> None:
        tasks = self.bot_data.pop("background", [])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await super().stop()

    async def shutdown(self) -> None:
        await super().shutdown()
        await self.bot_data["gateway"].close()

    async def process_update(self, update: object) -> None:
        gateway: Gateway = self.bot_data["gateway"]
        if not isinstance(update, Update):
            await super().process_update(update)
            return
        try:
            claimed = await gateway.claim(update)
        except SQLAlchemyError as error:  # the database is down: the retry loop takes it
            log.warning("update %s not claimed, database unavailable: %s", update.update_id,
                        str(error)[:200])
            await gateway.tell_wait([update])
            return
        if not claimed:
            return
        try:
            await super().process_update(update)
        finally:
            await gateway.finish(update)


def file_url_for(base_url: str) -> str:
    """``https://api.telegram.org/bot`` → ``https://api.telegram.org/file/bot``."""
    root, _, tail = base_url.rstrip("/").rpartition("/")
    return f"{root}/file/{tail}"


def build_application(settings: Settings, db: Database,
                      options: GatewayOptions | None = None) -> Application:
    """The gateway application: bot, handlers, background loops; not yet started."""
    if not settings.telegram_bot_token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set; the Telegram gateway cannot start")
    options = options or GatewayOptions()
    gateway = Gateway(settings, db, options)
    rate_limiter = AIORateLimiter(overall_max_rate=options.overall_max_rate,
                                  overall_time_period=1, max_retries=3)
    bot = StoringBot(
        settings.telegram_bot_token,
        base_url=settings.telegram_base_url,
        base_file_url=file_url_for(settings.telegram_base_url),
        request=HTTPXRequest(connection_pool_size=128, read_timeout=15, write_timeout=30),
        get_updates_request=HTTPXRequest(connection_pool_size=2, read_timeout=30),
        rate_limiter=rate_limiter,
        inbound=gateway.inbound,
        gateway=gateway,
    )
    application = (
        ApplicationBuilder()
        .application_class(GatewayApplication)
        .bot(bot)
        .concurrent_updates(options.concurrent_updates)
        .build()
    )
    application.bot_data["gateway"] = gateway
    gateway.bot = application.bot
    _register_handlers(application)
    return application


def _register_handlers(application: Application) -> None:
    # New messages only: an edited message is answered below, never taken as a new turn.
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    # Group -1: staff functions are checked against the database before anything else.
    application.add_handler(TypeHandler(Update, staff.require_staff), group=-1)

    application.add_handler(CommandHandler("tasks", staff.tasks, filters=private))
    application.add_handler(CallbackQueryHandler(staff.button, pattern=f"^{staff.PREFIX}"))
    application.add_handler(MessageHandler(private & staff.NOTE_REPLY, staff.note))

    application.add_handler(CommandHandler("start", resident.start, filters=private))
    application.add_handler(CommandHandler("help", resident.help_command, filters=private))
    application.add_handler(CommandHandler("cancel", resident.cancel, filters=private))
    application.add_handler(CallbackQueryHandler(resident.button, pattern=f"^{RESIDENT_PREFIX}"))
    application.add_handler(CallbackQueryHandler(staff.unknown_button))
    application.add_handler(MessageHandler(private & filters.TEXT, resident.text))
    application.add_handler(
        MessageHandler(private & (filters.PHOTO | filters.Document.IMAGE), resident.photo))
    application.add_handler(MessageHandler(private & filters.LOCATION, resident.location))
    application.add_handler(MessageHandler(private & filters.CONTACT, resident.contact))
    application.add_handler(MessageHandler(private & filters.UpdateType.MESSAGE,
                                           resident.unsupported))
    application.add_handler(MessageHandler(
        filters.ChatType.PRIVATE & filters.UpdateType.EDITED_MESSAGE, resident.edited))
    application.add_handler(MessageHandler(~filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE,
                                           resident.not_private))
    application.add_error_handler(on_error)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log every unexpected error; the update stays unprocessed and is retried."""
    log.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update):
        gateway: Gateway = context.bot_data["gateway"]
        await gateway.defer(update, repr(context.error))
        chat = update.effective_chat
        if chat and chat.type == "private" and gateway.is_first_failure(update):
            try:
                await context.bot.send_message(chat.id, render.BUSY)
            except Exception:  # noqa: BLE001 - the error handler must not raise
                log.warning("could not tell chat %s about the error", chat.id)


def _start_background(application: Application) -> list[asyncio.Task]:
    gateway: Gateway = application.bot_data["gateway"]
    options = gateway.options

    async def process_stored(payload: dict) -> None:
        await application.process_update(Update.de_json(payload, application.bot))

    sender = OutboxSender(gateway.db, [TelegramChannel(gateway, application.bot)],
                          batch=options.outbox_batch, interval=options.outbox_interval)
    return [
        asyncio.create_task(retry_unprocessed(
            gateway.inbound, process_stored, gateway.in_flight_ids,
            interval=options.retry_interval, stale_after=options.stale_after,
            max_attempts=options.max_attempts), name="inbound-retry"),
        asyncio.create_task(sender.run_forever(), name="outbox-sender"),
        asyncio.create_task(gateway.keep_leases(), name="inbound-leases"),
    ]


def quiet_http_logging() -> None:
    """httpx logs every request (with the bot token in the URL) at INFO."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
