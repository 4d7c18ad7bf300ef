"""Work a channel runs while the web app serves: entered before, left after the app's own
lifespan (each channel's ``install`` adds its part; web/channels.py lists them)."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI


def around(app: FastAPI, running: Callable[[FastAPI], AbstractAsyncContextManager]) -> None:
    """Serve the app inside ``running(app)``; each lifespan gets its own (a test may
    start the same app twice, each time on another event loop)."""
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(application: FastAPI):
        async with running(application), inner(application) as state:
            yield state

    app.router.lifespan_context = lifespan


@contextlib.asynccontextmanager
async def background(**loops: Coroutine) -> AsyncIterator[None]:
    """Run each loop (``name=coroutine``) as a task while the block runs; cancel them all,
    and wait for them, when it ends."""
    tasks = [asyncio.create_task(loop, name=name) for name, loop in loops.items()]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
