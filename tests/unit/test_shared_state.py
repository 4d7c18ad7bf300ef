"""The shared-state setting and the in-memory store every process has without Redis."""
from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import ValidationError

from bot.buttons import OfferedButtons
from bot.core.turns import Turns
from minsheng.settings import Settings, load_settings
from minsheng.shared_state import ExpiringMap


def test_the_shared_state_is_in_memory_unless_a_redis_url_is_set(monkeypatch):
    monkeypatch.delenv("MINSHENG_SHARED_STATE_URL", raising=False)
    assert Settings(_env_file=None).shared_state_url == "memory://"
    monkeypatch.setenv("MINSHENG_SHARED_STATE_URL", "redis://cache:6379/3")
    assert Settings(_env_file=None).shared_state_url == "redis://cache:6379/3"


def test_an_unknown_store_is_refused_at_start_up():
    with pytest.raises(ValidationError, match="memory:// or redis://"):
        Settings(shared_state_url="memcached://cache:11211", _env_file=None)


@pytest.mark.parametrize("old", ["MINSHENG_THROTTLE_URL", "MINSHENG_REDIS_URL"])
def test_a_renamed_variable_is_refused_rather_than_quietly_unsharing_the_state(
        monkeypatch, old):
    monkeypatch.setenv(old, "redis://cache:6379/2")
    with pytest.raises(ValueError, match="MINSHENG_SHARED_STATE_URL"):
        load_settings(_env_file=None)


def test_values_in_memory_expire_and_the_oldest_go_first_beyond_capacity():
    values = ExpiringMap("memory://", "t", ttl=0.2, capacity=2)
    values.put("a", [1])
    values.put("b", {"x": "乱堆乱放"})
    assert (values.get("a"), values.get("b")) == ([1], {"x": "乱堆乱放"})
    values.put("c", 3)
    assert values.get("a") is None and values.get("c") == 3
    time.sleep(0.3)
    assert values.get("b") is None and values.get("c") is None


def test_with_the_shared_store_unreachable_a_process_goes_on_with_its_own_copy():
    """A Redis restart must not fail the reply that offers buttons (nor the press on the
    same gateway): values are kept here too, and read from here while Redis is away."""
    buttons = OfferedButtons("redis://127.0.0.1:9/0")  # discard port: nothing listens
    data = buttons.offer(7, "满意", "/rate_good")
    assert buttons.lookup(7, data).payload == "/rate_good"
    values = ExpiringMap("redis://127.0.0.1:9/0", "t", ttl=60)
    values.put("a", 1)
    values.delete("a")
    assert values.get("a") is None


def test_a_button_token_is_short_stable_and_only_good_for_its_chat():
    buttons = OfferedButtons()
    payload = '/choose_category{"category": "clutter"}'
    data = buttons.offer(7, "乱堆乱放", payload)
    assert data == buttons.offer(7, "乱堆乱放", payload) and len(data.encode()) <= 64
    assert buttons.lookup(7, data).payload == payload
    assert buttons.lookup(8, data) is None
    assert buttons.lookup(7, "s:" + data[2:]) is None


async def test_turns_in_memory_run_one_at_a_time_in_arrival_order():
    turns, order, running = Turns(), [], []

    async def turn(n: int) -> None:
        async with turns.lock("chat"):
            running.append(n)
            assert len(running) == 1
            await asyncio.sleep(0.01)
            order.append(n)
            running.remove(n)

    await asyncio.gather(*(turn(n) for n in range(5)))
    assert order == [0, 1, 2, 3, 4]


async def test_an_unreachable_shared_store_fails_the_turn_and_frees_the_conversation_here():
    from redis.exceptions import ConnectionError as RedisConnectionError

    turns = Turns("redis://127.0.0.1:9/0")  # discard port: nothing listens
    lock = turns.lock("chat")
    with pytest.raises(RedisConnectionError):
        async with lock:
            pytest.fail("a turn ran without its conversation's lock")
    assert not lock.locked()
    await turns.close()
