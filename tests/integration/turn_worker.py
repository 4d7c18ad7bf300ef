"""A process that takes one conversation's turn lock, as a gateway or web app would.

``python -m tests.integration.turn_worker contend URL NAME CONVERSATION TURNS TASKS
START_AT HOLD``: ``TASKS`` concurrent tasks each run ``TURNS`` turns from wall-clock
``START_AT`` on, holding the lock ``HOLD`` seconds a turn; prints the turns' intervals as
JSON ``[[pid, start, end], …]``.

``python -m tests.integration.turn_worker hold URL NAME CONVERSATION LEASE``: takes the
lock, prints ``held`` and keeps it (renewing its lease) until it is killed.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import time

from bot.core.turns import Turns


async def contend(url: str, name: str, conversation: str, turns: int, tasks: int,
                  start_at: float, hold: float) -> list[list[float]]:
    lock = Turns(url, name).lock(conversation)
    intervals: list[list[float]] = []

    async def one_task() -> None:
        for _ in range(turns):
            async with lock:
                start = time.time()
                await asyncio.sleep(hold)
                intervals.append([os.getpid(), start, time.time()])

    await asyncio.sleep(max(0.0, start_at - time.time()))
    await asyncio.gather(*(one_task() for _ in range(tasks)))
    return intervals


async def hold_until_killed(url: str, name: str, conversation: str, lease: float) -> None:
    async with Turns(url, name, lease=lease).lock(conversation):
        print("held", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str]) -> None:
    mode, url, name, conversation, *rest = argv
    if mode == "contend":
        turns, tasks, start_at, hold = int(rest[0]), int(rest[1]), float(rest[2]), float(rest[3])
        print(json.dumps(asyncio.run(contend(url, name, conversation, turns, tasks,
                                             start_at, hold))))
    elif mode == "hold":
        asyncio.run(hold_until_killed(url, name, conversation, float(rest[0])))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
