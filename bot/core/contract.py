"""What a resident channel adapter declares and does (DESIGN: channels as adapters).

Every adapter (Telegram, web chat, WeChat, …) names its channel and what it can do; the
shared contract test (tests/wechat/test_adapter_contract.py) checks each declared
capability against the adapter's real behaviour. An adapter that pushes through the
outbox also implements ``Adapter``: the core sender (bot/core/outbox.py) claims the rows,
keeps them in order and records what happened; the adapter only resolves a recipient,
renders and makes its protocol call.
"""
from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.core.outbox import Due, Outcome
    from bot.core.rasa import RasaClient
    from minsheng.enums import Channel


@dataclass(frozen=True)
class Capabilities:
    """What a channel can carry for a resident."""

    buttons: str  # "inline" (pressable), "numbered" (answer with a number) or "none"
    photos: bool  # a resident's photo reaches Rasa as /send_photo
    location: bool  # a shared map location reaches Rasa as /share_location
    push: bool  # notices can reach a resident who has not just written
    push_window_hours: int | None = None  # push limited to this long after their last message


class Adapter(Protocol):
    """A channel the core sender delivers outbox rows to."""

    channel: Channel
    capabilities: Capabilities
    rasa: RasaClient  # for the dialogues a notice starts (the rating)
    per_recipient_interval: float  # seconds between two messages to one recipient
    # Optional ``pulled = True``: the recipient's page draws its rows (the web chat), so
    # the sender claims only its rating requests and leaves the dialogue's rows to it.

    def address(self, uow, recipient: str) -> Hashable | None:
        """``resident:<id>``, ``staff:<id>`` or a reply row's own recipient → where this
        channel sends (chat id, openid); None when it cannot reach them."""

    def sender_id(self, address: Hashable) -> str:
        """Rasa's sender id of the conversation at ``address``."""

    def reply_recipient(self, address: Hashable) -> str:
        """The recipient written on reply rows kept for ``address``."""

    async def deliver(self, due: Due) -> Outcome:
        """Render ``due.message`` and send it; never raises for a send that failed."""

    def mark_unreachable(self, uow, address: Hashable, now) -> None:
        """The channel said this recipient cannot be reached (blocked, unfollowed)."""
