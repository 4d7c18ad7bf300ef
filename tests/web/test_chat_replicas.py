"""Two web apps' chats sharing the real Redis: one resident's turns never run on both."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from bot.webchat.channel import WebChat

pytestmark = pytest.mark.redis


async def test_one_residents_turn_holds_up_the_same_resident_on_another_web_app(
        settings, db, redis_addr):
    shared = settings.copy(update={
        "shared_state_url": f"redis://{redis_addr[0]}:{redis_addr[1]}/7"})
    first, second = WebChat(shared, db), WebChat(shared, db)
    resident = uuid.uuid4().hex
    try:
        async with first._lock(resident):
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(second._lock(resident).__aenter__(), timeout=0.5)
        async with second._lock(resident):
            pass
    finally:
        await first.close()
        await second.close()
