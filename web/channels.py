"""The resident channels, one registration line each (README "Layout": adding a channel).

A channel is either mounted on the web app — its ``install(app)`` adds its routes, its
adapter and whatever delivers its outbox rows, started and stopped with the app — or runs
as its own process (a program of minsheng/processes.py, started by supervisord). The
adapter contract test (tests/wechat/test_adapter_contract.py) runs for every entry.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI

from minsheng.enums import Channel
from web import chat, wechat


@dataclass(frozen=True)
class Registration:
    channel: Channel
    install: Callable[[FastAPI], None] | None = None  # mounted on the web app
    process: str | None = None  # or its own process (a program in minsheng/processes.py)


REGISTRY: tuple[Registration, ...] = (
    Registration(Channel.telegram, process="gateway"),  # python -m bot (bot/app.py)
    Registration(Channel.web, install=chat.install),
    Registration(Channel.wechat, install=wechat.install),
)


def install_all(app: FastAPI) -> None:
    """Mount every channel the web app hosts."""
    for registration in REGISTRY:
        if registration.install is not None:
            registration.install(app)
