"""Replicas sharing state through the real Redis (MINSHENG_SHARED_STATE_URL=redis://…):
button tokens and numbered options one process offered are known to another, and two
processes never run turns of one conversation at the same time, even when one dies
holding the lock."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from bot.buttons import OfferedButtons
from bot.core.turns import Turns
from bot.wechat.render import OfferedOptions, options_of

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def shared_url(redis_addr) -> str:
    return f"redis://{redis_addr[0]}:{redis_addr[1]}/7"


def fresh(prefix: str) -> str:
    """A name no earlier run left keys under on the shared server."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def fresh_chat() -> int:
    return uuid.uuid4().int % 10**12


def test_a_button_one_gateway_offered_is_accepted_by_another(shared_url):
    first, second = OfferedButtons(shared_url), OfferedButtons(shared_url)
    chat = fresh_chat()
    data = first.offer(chat, "乱堆乱放", '/choose_category{"category": "clutter"}')
    found = second.lookup(chat, data)
    assert found is not None
    assert (found.title, found.payload) == ("乱堆乱放", '/choose_category{"category": "clutter"}')
    assert second.lookup(chat + 1, data) is None  # offered to that chat only
    assert second.lookup(chat, "r:*") is None  # never read as a key pattern


def test_gateways_in_memory_do_not_share_buttons():
    """The control: without the shared store a second process knows nothing."""
    chat = fresh_chat()
    data = OfferedButtons().offer(chat, "满意", "/rate_good")
    assert OfferedButtons().lookup(chat, data) is None


def test_a_shared_button_expires_after_its_ttl(shared_url):
    buttons = OfferedButtons(shared_url, ttl=0.3)
    chat = fresh_chat()
    data = buttons.offer(chat, "满意", "/rate_good")
    assert buttons.lookup(chat, data) is not None
    time.sleep(0.5)
    assert OfferedButtons(shared_url).lookup(chat, data) is None


def test_numbered_options_one_web_app_offered_are_answered_by_another(shared_url):
    first, second = OfferedOptions(shared_url), OfferedOptions(shared_url)
    openid = fresh("o")
    first.offer(openid, options_of([{"buttons": [{"title": "确认提交", "payload": "/affirm"},
                                                 {"title": "取消", "payload": "/deny"}]}]))
    assert second.answer(openid, "２").payload == "/deny"
    assert second.answer(openid, "确认提交").payload == "/affirm"
    assert second.answer(fresh("o"), "1") is None
    second.offer(openid, [])  # a reply without buttons withdraws the offer everywhere,
    assert first.answer(openid, "1") is None  # the copy kept where it was made included


def _worker(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.integration.turn_worker", *args],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def _contend(url: str, turns: int = 6, tasks: int = 2,
             hold: float = 0.03) -> list[list[float]]:
    """Two processes (each with ``tasks`` tasks) taking one conversation's lock; their
    turns' intervals, sorted by start."""
    name, conversation = fresh("contend"), fresh("chat")
    start_at = time.time() + 2.0  # both have imported and connected by then
    workers = [_worker("contend", url, name, conversation, str(turns), str(tasks),
                       str(start_at), str(hold)) for _ in range(2)]
    intervals = []
    for worker in workers:
        out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0
        intervals += json.loads(out)
    assert len(intervals) == 2 * tasks * turns
    assert len({pid for pid, _, _ in intervals}) == 2
    return sorted(intervals, key=lambda i: i[1])


def _overlaps(intervals: list[list[float]]) -> int:
    """How many turns started before every earlier-started turn had ended."""
    overlaps, ended = 0, float("-inf")
    for _, start, end in intervals:
        overlaps += start < ended
        ended = max(ended, end)
    return overlaps


def test_two_processes_never_run_turns_of_one_conversation_at_once(shared_url):
    intervals = _contend(shared_url)
    assert _overlaps(intervals) == 0
    # All started at once: whichever went second waited for the other's turns to end.
    # (No fairness between processes is promised; each conversation's queue is short.)


def test_with_locks_in_memory_two_processes_do_overlap():
    """The control: the same load on memory:// locks overlaps, so the check above can fail."""
    assert _overlaps(_contend("memory://")) > 0


async def test_a_dead_holder_blocks_the_conversation_only_until_its_lease_runs_out(shared_url):
    name, conversation, lease = fresh("dead"), fresh("chat"), 1.0
    holder = _worker("hold", shared_url, name, conversation, str(lease))
    try:
        line = await asyncio.to_thread(holder.stdout.readline)
        assert line.strip() == "held"
        turns = Turns(shared_url, name, lease=lease)
        lock = turns.lock(conversation)
        # alive, the holder renews its lease: two leases later the lock is still taken
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(lock.__aenter__(), timeout=2 * lease)
        assert not lock.locked()  # the cancelled wait let go of this process's lock
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        killed = time.monotonic()
        async with lock:
            waited = time.monotonic() - killed
        assert waited <= lease + 1.0
        await turns.close()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)


async def test_a_lock_is_free_again_as_soon_as_its_turn_ends(shared_url):
    name, conversation = fresh("release"), fresh("chat")
    first, second = Turns(shared_url, name), Turns(shared_url, name)
    async with first.lock(conversation):
        pass
    started = time.monotonic()
    async with second.lock(conversation):  # not a lease later: released on exit
        assert time.monotonic() - started < 1.0
    await first.close()
    await second.close()
