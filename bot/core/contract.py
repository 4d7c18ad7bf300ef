"""What a resident channel adapter declares about itself (DESIGN: channels as adapters).

Every adapter (Telegram, web chat, WeChat, …) names its channel and what it can do; the
shared contract tests (tests/wechat/test_adapter_contract.py is the first) check each
declared capability against the adapter's real behaviour.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Capabilities:
    """What a channel can carry for a resident."""

    buttons: str  # "inline" (pressable), "numbered" (answer with a number) or "none"
    photos: bool  # a resident's photo reaches Rasa as /send_photo
    location: bool  # a shared map location reaches Rasa as /share_location
    push: bool  # notices can reach a resident who has not just written
    push_window_hours: int | None = None  # push limited to this long after their last message
