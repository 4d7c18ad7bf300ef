"""The gateway under test: a real PTB Application polling our local Bot API server,
talking to a fake Rasa over HTTP, on a real SQLite database built by the migrations."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.gateway import GatewayOptions
from minsheng.db import Database
from minsheng.settings import load_settings
from tests.botapi.fake_rasa import FakeRasa
from tests.botapi.server import TOKEN, BotApiServer

FAST = GatewayOptions(per_chat_interval=0.0, outbox_interval=0.05, retry_interval=0.1,
                      max_backoff=0.5, stale_after=30.0, overall_max_rate=0)


@pytest.fixture
async def bot_api():
    server = await BotApiServer().start()
    yield server
    await server.stop()


@pytest.fixture
async def rasa():
    fake = await FakeRasa().start()
    yield fake
    await fake.stop()


@pytest.fixture
def settings(tmp_path: Path, bot_api: BotApiServer, rasa: FakeRasa, db: Database):
    return load_settings(
        database_url=db.url, rasa_url=rasa.url, rasa_token=rasa.token,
        telegram_bot_token=TOKEN, telegram_base_url=bot_api.base_url,
        photos_dir=tmp_path / "photos", _env_file=None,
    )


@pytest.fixture
def options() -> GatewayOptions:
    return GatewayOptions(**vars(FAST))


@pytest.fixture
async def gateway(settings, db, options):
    """The running application (polling); yields it, stops it afterwards."""
    from bot.app import build_application

    application = build_application(settings, db, options)
    await application.initialize()
    await application.start()
    await application.updater.start_polling(poll_interval=0.0, timeout=1)
    yield application
    if application.updater.running:
        await application.updater.stop()
    if application.running:
        await application.stop()
    await application.shutdown()
