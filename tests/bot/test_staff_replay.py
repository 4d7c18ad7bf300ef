"""A staff press taken again after its answer went out (the database lost the mark that
it was answered: restarted between the answer and the mark) does nothing a second time."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot import render
from bot.gateway import GatewayOptions
from minsheng.enums import Channel
from minsheng.models import InboundMessage
from tests.bot.conftest import FAST
from tests.bot.seed import CASE_NO, WORKER_TG, case_state, seed_cases
from tests.bot.test_staff_gateway import button, events_of, press, wait_until
from tests.botapi import updates
from tests.botapi.server import BotApiServer

LEASE = 1.0


@pytest.fixture
def options() -> GatewayOptions:
    # a lost mark is retried soon: the claim lease runs out after a second
    return GatewayOptions(**{**vars(FAST), "stale_after": 0.2, "claim_lease": LEASE})


def unanswered_presses(db) -> list[str]:
    with db.uow() as uow:
        return list(uow.session.execute(select(InboundMessage.external_id).where(
            InboundMessage.channel == Channel.telegram,
            InboundMessage.processed_at.is_(None))).scalars())


async def test_a_press_whose_processed_mark_was_lost_is_not_acted_on_or_answered_twice(
        gateway, bot_api: BotApiServer, db):
    seed_cases(db)
    runtime = gateway.bot_data["gateway"]
    await bot_api.push(updates.message_update(WORKER_TG, "/tasks"))
    _, card = await bot_api.wait_for_messages(WORKER_TG, count=2)

    await wait_until(lambda: not unanswered_presses(db))  # /tasks marked answered
    lost = []

    def database_gone(key: str) -> None:  # the mark after the handler: the database is down
        lost.append(key)
        raise OperationalError("UPDATE inbound_messages", {}, ConnectionError("server closed"))

    runtime.inbound.mark_processed = database_gone
    before = len(bot_api.sent_to(WORKER_TG))
    await press(bot_api, WORKER_TG, button(card, "签收"), updates.sent_message(card.result))
    done = render.action_done("签收", CASE_NO)
    await bot_api.wait_for(lambda calls: [c for c in bot_api.sent_to(WORKER_TG)
                                          if c.text == done])
    await wait_until(lambda: lost)  # the mark after the handler was attempted, and lost
    # the lease runs out and the retry loop looks again, several times over
    await asyncio.sleep(LEASE + 2.0)
    assert [c.text for c in bot_api.sent_to(WORKER_TG)[before:]] == [done]
    assert events_of(db, CASE_NO).count("acknowledge") == 1
    assert case_state(db, CASE_NO) == "acknowledged"
    assert unanswered_presses(db) == []
