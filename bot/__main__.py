"""Run the Telegram gateway: ``python -m bot`` (polling) or ``python -m bot --webhook URL``.

Webhook mode needs a secret token (``--secret-token`` or MINSHENG_TELEGRAM_WEBHOOK_SECRET,
at least 16 characters); Telegram sends it in every call and other calls are refused.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
from urllib.parse import urlparse

import uvicorn
from telegram import Update

from bot.app import build_application, quiet_http_logging
from bot.webhook import webhook_app
from minsheng.db import Database
from minsheng.privacy import install_log_redaction
from minsheng.settings import load_settings

log = logging.getLogger("bot")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot", description="民生说事 Telegram gateway")
    parser.add_argument("--webhook", metavar="URL",
                        help="public HTTPS URL Telegram should POST updates to (default: polling)")
    parser.add_argument("--listen", default="127.0.0.1", help="webhook listen address")
    parser.add_argument("--port", type=int, default=8443, help="webhook listen port")
    parser.add_argument("--secret-token", default=None,
                        help="webhook secret (default: $MINSHENG_TELEGRAM_WEBHOOK_SECRET)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_http_logging()
    install_log_redaction()  # phone and ID numbers never reach the gateway's log
    settings = load_settings()
    if not settings.telegram_bot_token:
        raise SystemExit("TELEGRAM_BOT_TOKEN is not set. Without it, chat locally: "
                         "make run prints how.")
    db = Database(settings.database_url)
    application = build_application(settings, db)
    if args.webhook:
        secret = args.secret_token or os.environ.get("MINSHENG_TELEGRAM_WEBHOOK_SECRET", "")
        if len(secret) < 16:
            raise SystemExit("webhook mode needs a secret token of at least 16 characters")
        asyncio.run(serve_webhook(application, args.webhook, args.listen, args.port, secret))
    else:
        log.info("gateway polling %s", settings.telegram_base_url.split("/bot")[0])
        application.run_polling(allowed_updates=Update.ALL_TYPES)
    db.dispose()


async def serve_webhook(application, url: str, listen: str, port: int, secret: str) -> None:
    path = urlparse(url).path or "/telegram"
    async with application:
        await application.bot.set_webhook(url, secret_token=secret,
                                          allowed_updates=Update.ALL_TYPES)
        await application.start()
        server = uvicorn.Server(uvicorn.Config(webhook_app(application, secret, path),
                                               host=listen, port=port, log_level="warning",
                                               # no websockets here; uvicorn's "auto" would
                                               # import a websockets newer than Rasa's pin
                                               ws="none"))
        log.info("gateway webhook listening on %s:%s%s", listen, port, path)
        try:
            await server.serve()
        finally:
            await application.stop()


if __name__ == "__main__":
    main()
