"""A turn Rasa did not finish is kept and sent again, and never taken twice: empty answers
(the action server down), a turn a killed gateway left behind, claims between gateways,
and "稍等" when Rasa is slow. Real gateway, Bot API server, fake Rasa, real SQLite."""
from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import update as sql_update
from telegram import Update

from bot import render
from bot.core.replay import TURN_KEY, find_turn, undo_events
from bot.gateway import Gateway
from bot.inbound import TelegramInbox
from minsheng.clock import utcnow
from minsheng.models import InboundMessage
from tests.bot.test_resident_gateway import inbound_rows, wait_until
from tests.botapi import updates
from tests.botapi.fake_rasa import FakeRasa, echo_reply
from tests.botapi.server import BotApiServer

RESIDENT = 421000077
SENDER = f"telegram:{RESIDENT}"


def test_a_rewound_turn_is_not_found_and_a_later_one_is():
    events = [{"event": "user", "metadata": {TURN_KEY: "k"}}, {"event": "action"},
              {"event": "rewind"},
              {"event": "user", "metadata": {TURN_KEY: "k"}},
              {"event": "bot", "text": "好的", "data": {"buttons": [{"title": "是"}]}},
              {"event": "user", "metadata": {TURN_KEY: "other"}},
              {"event": "bot", "text": "别的"}]
    assert find_turn(events, "k") == [{"text": "好的", "buttons": [{"title": "是"}]}]
    assert find_turn(events[:3], "k") is None
    assert find_turn(events[:2], "k") == []


def test_a_failed_turn_is_undone_to_the_slots_and_form_before_it():
    """The confirm press submitted the form, then the action opening the case failed:
    the form is active again, waiting for the confirmation, before the press is resent."""
    events = [{"event": "slot", "name": "requested_slot", "value": "confirm"},
              {"event": "active_loop", "name": "report_form"},
              {"event": "action", "name": "action_listen"},
              {"event": "user", "metadata": {TURN_KEY: "k"}},
              {"event": "action", "name": "report_form"},
              {"event": "slot", "name": "confirm", "value": True},
              {"event": "slot", "name": "requested_slot", "value": None},
              {"event": "active_loop", "name": None},
              {"event": "action", "name": "action_open_case"},
              {"event": "action", "name": "action_listen"}]
    assert undo_events(events, "k") == [
        {"event": "slot", "name": "confirm", "value": None},
        {"event": "slot", "name": "requested_slot", "value": "confirm"},
        {"event": "active_loop", "name": "report_form"}]
    assert undo_events(events[:4] + events[-1:], "k") == []  # it changed nothing
    assert undo_events(events, "other") == []


async def test_an_empty_answer_is_kept_told_once_and_answered_when_the_actions_are_back(
        gateway, bot_api: BotApiServer, rasa: FakeRasa, db):
    """Rasa answers [] while the action server is down: no "send it again"; the message is
    sent again with back-off until Rasa answers."""
    silent = {"left": 2}

    def reply(message):
        if silent["left"] > 0:
            silent["left"] -= 1
            return []
        return echo_reply(message)

    rasa.reply = reply
    await bot_api.push(updates.message_update(RESIDENT, "井盖丢了"))
    sent = await bot_api.wait_for_messages(RESIDENT, count=2)
    assert [c.text for c in sent] == [render.BUSY, "收到：井盖丢了"]
    assert rasa.texts_from(SENDER) == ["井盖丢了"] * 3
    # the failed turns changed nothing; the last one is the answer
    assert find_turn(rasa.events[SENDER], rasa.received[0]["metadata"][TURN_KEY]) == [
        {"text": "收到：井盖丢了"}]
    await wait_until(lambda: all(r.processed_at for r in inbound_rows(db)))


async def test_a_message_rasa_never_answers_is_given_up_after_bounded_attempts(
        gateway, bot_api: BotApiServer, rasa: FakeRasa, db, options):
    rasa.reply = lambda message: []
    await bot_api.push(updates.message_update(RESIDENT, "井盖丢了"))
    sent = await bot_api.wait_for_messages(RESIDENT, count=2)
    assert [c.text for c in sent] == [render.BUSY, render.NO_REPLY]
    assert len(rasa.texts_from(SENDER)) == options.empty_attempts
    [row] = await wait_until(lambda: [r for r in inbound_rows(db) if r.processed_at])
    assert "EmptyTurn" in row.last_error
    await asyncio.sleep(1.0)  # and it is never tried again
    assert len(rasa.texts_from(SENDER)) == options.empty_attempts


async def test_a_turn_rasa_took_before_the_gateway_died_is_answered_from_the_tracker(
        gateway, bot_api: BotApiServer, rasa: FakeRasa, db):
    """A killed gateway left the update claimed and unanswered, but Rasa had its turn:
    the update is answered with that turn's messages, not sent to Rasa again."""
    store = gateway.bot_data["gateway"].inbound
    update = updates.message_update(RESIDENT, "路灯坏了")
    update["update_id"] = bot_api.next_update_id()
    [stored] = store.save_all([update])
    assert store.claim(stored.key, lease=0.3)  # the dead process's claim, soon expired
    rasa.events[SENDER] = [
        {"event": "user", "text": "路灯坏了", "metadata": {TURN_KEY: stored.key}},
        {"event": "bot", "text": "请问在哪个小区？", "data": {}}]
    await bot_api.push(update)  # Telegram delivers it again to the new gateway
    [reply] = await bot_api.wait_for_messages(RESIDENT, timeout=10)
    assert reply.text == "请问在哪个小区？"
    assert rasa.texts_from(SENDER) == []
    await wait_until(lambda: all(r.processed_at for r in inbound_rows(db)))


async def test_a_claimed_update_is_not_taken_by_a_second_gateway_until_its_lease_ends(
        settings, db, options):
    first, second = Gateway(settings, db, options), Gateway(settings, db, options)
    update = Update.de_json(updates.message_update(RESIDENT, "井盖丢了")
                            | {"update_id": 700100}, None)
    assert await first.claim(update)
    assert not await second.claim(update)  # the first is working on it
    store: TelegramInbox = first.inbound
    assert store.unprocessed(utcnow(), 20) == []
    with db.uow() as uow:  # the first process died: its lease ran out
        uow.session.execute(sql_update(InboundMessage).values(
            claimed_until=utcnow() - timedelta(seconds=1)))
        uow.commit()
    [due] = store.unprocessed(utcnow() - timedelta(hours=1), 20)
    assert due.key == store.key(update.to_dict())
    assert await second.claim(update)
    assert second.seen(update)  # so Rasa's tracker is read before the turn is sent again
    await first.close()
    await second.close()


async def test_a_slow_turn_tells_the_resident_to_wait_once(
        gateway, bot_api: BotApiServer, rasa: FakeRasa):
    gateway.bot_data["gateway"].options.wait_notice = 0.2
    rasa.latency = lambda: 0.8
    await bot_api.push(updates.message_update(RESIDENT, "井盖丢了"))
    sent = await bot_api.wait_for_messages(RESIDENT, count=2)
    assert [c.text for c in sent] == [render.WAIT, "收到：井盖丢了"]


async def test_a_locked_database_tells_the_resident_to_wait_and_the_message_is_answered(
        gateway, bot_api: BotApiServer, rasa: FakeRasa, db):
    """Another writer holds SQLite's lock: storing and claiming the update waits; the
    resident hears 稍等 meanwhile and the answer once the lock is gone."""
    import sqlite3
    import threading

    gateway.bot_data["gateway"].options.wait_notice = 0.3
    path = db.engine.url.database
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        taken.set()
        release.wait(10)
        conn.execute("COMMIT")
        conn.close()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert taken.wait(5)
    try:
        await bot_api.push(updates.message_update(RESIDENT, "井盖丢了"))
        [wait] = await bot_api.wait_for_messages(RESIDENT, timeout=5)
        assert wait.text == render.WAIT
    finally:
        await asyncio.sleep(1.0)
        release.set()
    sent = await bot_api.wait_for_messages(RESIDENT, count=2, timeout=10)
    assert [c.text for c in sent] == [render.WAIT, "收到：井盖丢了"]
    assert rasa.texts_from(SENDER) == ["井盖丢了"]
