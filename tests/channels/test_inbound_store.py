"""The one inbound store (bot.core.inbound) on real databases: dedupe by the channel's key,
a claim lease that two processes never share and that a killed process loses in seconds,
back-off, per-conversation order, and renewal only of a lease still held."""
from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

from sqlalchemy import select, update

from bot.core.inbound import InboundStore, Incoming
from minsheng.clock import utcnow
from minsheng.db import Database
from minsheng.enums import Channel
from minsheng.models import InboundMessage

SENDER = "web:resident-a"


def message(key: str, sender: str = SENDER) -> Incoming:
    return Incoming(key, sender, {"text": key})


def claimed_until(db: Database, key: str):
    with db.uow() as uow:
        return uow.session.execute(select(InboundMessage.claimed_until).where(
            InboundMessage.external_id == key)).scalar_one()


def test_a_message_stored_twice_is_one_row_and_another_channel_keeps_its_own(database):
    web, wechat = InboundStore(database, Channel.web), InboundStore(database, Channel.wechat)
    assert web.add(message("m1")).fresh
    again = web.add(message("m1"))
    assert not again.fresh and again.key == "m1"
    assert wechat.add(message("m1")).fresh
    with database.uow() as uow:
        assert len(uow.session.execute(select(InboundMessage)).scalars().all()) == 2


def test_two_processes_racing_for_the_same_messages_never_claim_one_twice(database):
    first, second = (InboundStore(database, Channel.web, lease=30) for _ in range(2))
    keys = [f"m{n}" for n in range(20)]
    first.add_all([message(k, f"web:r{k}") for k in keys])
    won: dict[str, list[str]] = {"first": [], "second": []}
    start = threading.Barrier(2)

    def race(name: str, store: InboundStore) -> None:
        start.wait()
        for key in keys:
            if store.claim(key) is not None:
                won[name].append(key)

    threads = [threading.Thread(target=race, args=(n, s))
               for n, s in (("first", first), ("second", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won["first"] + won["second"]) == sorted(keys)
    assert not set(won["first"]) & set(won["second"])


def test_a_message_held_by_a_killed_process_is_taken_again_once_its_lease_runs_out(database):
    dead, alive = InboundStore(database, Channel.web, lease=1.0), InboundStore(database,
                                                                                 Channel.web)
    dead.add(message("m1"))
    assert dead.claim("m1") is not None  # …and the process is killed mid-turn
    assert alive.claim("m1") is None
    assert alive.claim_next(SENDER) is None
    assert alive.unprocessed(utcnow(), 20) == []
    time.sleep(1.2)
    assert [s.key for s in alive.unprocessed(utcnow() - timedelta(hours=1), 20)] == ["m1"]
    taken = alive.claim_next(SENDER)
    assert taken is not None and taken.key == "m1"
    assert taken.seen  # so Rasa's tracker is read before the turn is sent again


def test_a_kept_message_waits_out_its_back_off(database):
    store = InboundStore(database, Channel.web)
    store.add(message("m1"))
    assert store.claim("m1") is not None
    store.mark_failed("m1", "EmptyTurn: nothing", backoff=30)
    assert store.claim("m1") is None and store.unprocessed(utcnow(), 20) == []
    with database.uow() as uow:
        uow.session.execute(update(InboundMessage).values(
            claimed_until=utcnow() - timedelta(seconds=1)))
        uow.commit()
    again = store.claim("m1")
    assert again is not None and again.attempts == 1


def test_a_conversation_is_taken_in_order_and_a_later_message_never_overtakes(database):
    mine, other = InboundStore(database, Channel.web), InboundStore(database, Channel.web)
    mine.add_all([message("m1"), message("m2"), message("x1", "web:someone-else")])
    assert other.claim_next(SENDER).key == "m1"  # another process works on m1
    assert mine.claim_next(SENDER) is None  # m2 waits for it
    assert mine.claim_next("web:someone-else").key == "x1"  # other residents do not
    with database.uow() as uow:
        other.answered("m1")(uow, utcnow())
        uow.commit()
    assert mine.claim_next(SENDER).key == "m2"


async def test_a_lease_is_renewed_while_held_and_no_longer_once_an_outcome_replaced_it(
        database):
    store = InboundStore(database, Channel.web, lease=0.6)
    held = store.add(message("m1"), claim=True)
    async with store.holding(held):
        await asyncio.sleep(1.0)  # longer than one lease: renewed meanwhile
        assert claimed_until(database, "m1") > utcnow()
        assert InboundStore(database, Channel.web).claim("m1") is None
        await asyncio.to_thread(store.mark_failed, "m1", "RasaUnavailable: down")
        await asyncio.sleep(0.5)  # a renewal round: it must not take the message back
    assert claimed_until(database, "m1") is None
    assert store.claim("m1") is not None
