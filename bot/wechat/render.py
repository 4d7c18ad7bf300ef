"""Rasa's replies as WeChat messages (texts and images), and the options a resident may
answer by number.

WeChat has no inline buttons in passive or customer-service text, so buttons become
numbered options under the text ("回复数字选择：1. 确认提交  2. 取消"). The resident
answers with the number, or types the option's title; either is turned back into the
button's payload only if it was offered to this very resident in the latest reply
(a new offer replaces the old one, a reply without buttons withdraws it). The offers live
where Telegram's buttons do (the shared-state setting: this process's memory, or Redis,
shared by every web replica): once an offer is gone (a restart with memory://, or 24
hours later) a number is read as typed text (it may be a 楼栋 number, so it is never
refused). A typed answer never becomes a payload otherwise (see
``bot.core.rasa.neutralise``). An image is a message of its own (uploaded as temporary
media when it is sent: bot/wechat/media.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from bot.core.texts import BUSY, NO_REPLY  # noqa: F401  (shared with every channel)
from minsheng.shared_state import MEMORY, ExpiringMap

# WeChat cuts a text message at 2048 bytes; keep each piece well inside it.
TEXT_LIMIT_BYTES = 2000
OFFER_TTL = 24 * 3600
FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")

EMPTY_MESSAGE = "没有收到文字内容。请用文字描述您遇到的问题，或发送照片、位置。"
UNSUPPORTED = ("暂时只能接收文字、照片和位置（语音、视频等暂不支持）。"
               "请用文字描述您遇到的问题。")
PHOTO_FAILED = "照片没有收到完整，请重新发送一次。"
# Telegram shows a keyboard button for these; on WeChat the resident is told where to look.
LOCATION_HINT = "（发送位置：点输入框旁的“+”，选“位置”）"
PHONE_HINT = "（请直接输入手机号）"


@dataclass(frozen=True)
class Option:
    number: int
    title: str
    payload: str


def options_of(replies: list[dict]) -> list[Option]:
    """Every button of ``replies``, numbered from 1 across the whole answer."""
    buttons = [b for reply in replies for b in reply.get("buttons") or []
               if isinstance(b, dict) and b.get("payload")]
    return [Option(n, str(b.get("title") or b["payload"]), str(b["payload"]))
            for n, b in enumerate(buttons, start=1)]


def pieces(replies: list[dict]) -> list[dict]:
    """Rasa's messages as what WeChat is sent, in order: ``{"text": …}`` pieces of at most
    ``TEXT_LIMIT_BYTES`` and an ``{"image": source}`` (a URL or a photo path) for each
    image. The texts between two images become one message; options are numbered across
    the whole answer."""
    out: list[dict] = []
    texts: list[str] = []
    number = 0
    for reply in replies:
        text, number = _reply_text(reply, number)
        if text:
            texts.append(text)
        if reply.get("image"):
            out += text_pieces("\n\n".join(texts))
            texts = []
            out.append({"image": str(reply["image"])})
    return out + text_pieces("\n\n".join(texts))


def text_pieces(text: str) -> list[dict]:
    return [{"text": piece} for piece in split(text)]


def _reply_text(reply: dict, number: int) -> tuple[str, int]:
    """One message's text with its hints and numbered options; the last number used."""
    custom = reply.get("custom") if isinstance(reply.get("custom"), dict) else {}
    text = str(reply.get("text") or custom.get("text") or "").strip()
    if custom.get("request_location"):
        text = f"{text}\n{LOCATION_HINT}".strip()
    if custom.get("request_contact"):
        text = f"{text}\n{PHONE_HINT}".strip()
    lines = [text] if text else []
    buttons = [b for b in reply.get("buttons") or [] if isinstance(b, dict) and b.get("payload")]
    if buttons:
        lines.append("回复数字选择：")
        for button in buttons:
            number += 1
            lines.append(f"{number}. {button.get('title') or button['payload']}")
    return "\n".join(lines), number


def split(text: str, limit: int = TEXT_LIMIT_BYTES) -> list[str]:
    """``text`` in pieces of at most ``limit`` UTF-8 bytes, cut at line breaks if possible."""
    pieces: list[str] = []
    while len(text.encode()) > limit:
        cut = len(text.encode()[:limit].decode(errors="ignore"))
        line_end = text.rfind("\n", 0, cut)
        cut = line_end if line_end > cut // 2 else cut
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return pieces + ([text] if text else [])


class OfferedOptions:
    """The options last offered to each resident (openid), for a while: in this process,
    or in the shared store (minsheng.shared_state) where every web replica reads them."""

    def __init__(self, shared_state_url: str = MEMORY, capacity: int = 100_000,
                 ttl: float = OFFER_TTL) -> None:
        self._offers = ExpiringMap(shared_state_url, "wechat-options", ttl, capacity)

    def offer(self, openid: str, options: list[Option]) -> None:
        """Remember ``options`` for ``openid`` (none: the old offer is withdrawn)."""
        if options:
            self._offers.put(openid, [[o.number, o.title, o.payload] for o in options])
        else:
            self._offers.delete(openid)

    def answer(self, openid: str, typed: str) -> Option | None:
        """The offered option ``typed`` names (its number or its exact title), if any."""
        offered = [Option(*fields) for fields in self._offers.get(openid) or []]
        choice = typed.strip().translate(FULL_WIDTH_DIGITS).rstrip(".。")
        for option in offered:
            if choice == str(option.number) or choice == option.title:
                return option
        return None
