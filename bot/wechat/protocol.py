"""WeChat's side of the wire: the URL signature, inbound XML, passive XML replies.

Plaintext mode (明文模式): the signature is SHA-1 over the sorted token, timestamp and
nonce (wechatpy's ``WeChatSigner``), compared in constant time. It does not cover the
body, so a request whose timestamp is far from now is refused too (a captured URL cannot
be replayed later). The XML is read by wechatpy (xmltodict, entities disabled).
"""
from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, field
from xml.parsers.expat import ExpatError

from wechatpy import parse_message
from wechatpy.replies import TextReply
from wechatpy.utils import WeChatSigner

# WeChat retries a message three times within 15 s; its clock and ours agree to seconds.
MAX_CLOCK_SKEW = 300
MAX_BODY_BYTES = 64 * 1024


class BadMessage(ValueError):
    """The body is not a WeChat message we can read."""


def signature(token: str, timestamp: str, nonce: str, *more: str) -> str:
    """SHA-1 over the sorted parts (safe mode adds the ciphertext: msg_signature)."""
    signer = WeChatSigner()
    signer.add_data(token, timestamp, nonce, *more)
    return signer.signature


def signature_valid(token: str, sig: str, timestamp: str, nonce: str, *more: str,
                    now: float | None = None) -> bool:
    """Whether the query string (and ``more``) was signed with our token, recently."""
    if not (sig and timestamp.isdigit() and nonce):
        return False
    if abs((now or time.time()) - int(timestamp)) > MAX_CLOCK_SKEW:
        return False
    return hmac.compare_digest(signature(token, timestamp, nonce, *more), sig.lower())


@dataclass(frozen=True)
class Inbound:
    """One message or event from a resident, with the id it is stored under once."""

    kind: str  # text | image | location | click | subscribe | unsubscribe | other
    openid: str
    account: str  # our account's id (ToUserName), the passive reply's FromUserName
    external_id: str  # MsgId, or FromUserName+CreateTime for events
    fields: dict = field(default_factory=dict)  # the raw XML fields, as stored

    @property
    def text(self) -> str:
        return str(self.fields.get("Content") or "")


def parse(body: bytes) -> Inbound:
    """The XML body → an ``Inbound``; ``BadMessage`` when it is not one."""
    if not body or len(body) > MAX_BODY_BYTES:
        raise BadMessage("empty or too large")
    try:
        message = parse_message(body)
    except (ExpatError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise BadMessage(f"{type(error).__name__}: {error}") from None
    data = {k: v for k, v in dict(message._data).items() if isinstance(v, (str, type(None)))}
    return from_fields(data)


def from_fields(data: dict) -> Inbound:
    """An ``Inbound`` from its XML fields (as parsed now, or as stored for a retry)."""
    openid, account = data.get("FromUserName"), data.get("ToUserName")
    if not openid or not account:
        raise BadMessage("no FromUserName / ToUserName")
    kind = _kind(data)
    external_id = data.get("MsgId") if kind not in EVENT_KINDS else None
    external_id = external_id or f"{openid}:{data.get('CreateTime') or ''}"
    return Inbound(kind, str(openid), str(account), str(external_id)[:64], data)


EVENT_KINDS = {"click", "subscribe", "unsubscribe", "event"}
MESSAGE_KINDS = {"text", "image", "location"}


def _kind(data: dict) -> str:
    msg_type = str(data.get("MsgType") or "").lower()
    if msg_type in MESSAGE_KINDS:
        return msg_type
    if msg_type == "event":
        event = str(data.get("Event") or "").lower()
        event = "subscribe" if event.startswith("subscribe_") else event  # via a QR code
        return event if event in EVENT_KINDS else "event"
    return "other"


def passive_text(inbound: Inbound, text: str, now: float | None = None) -> str:
    """A passive reply: ``text`` back to the sender, as WeChat's XML."""
    reply = TextReply(source=inbound.account, target=inbound.openid, content=_cdata_safe(text),
                      time=int(now or time.time()))
    return reply.render()


def _cdata_safe(text: str) -> str:
    """wechatpy wraps the text in CDATA as is; a ']]>' in it would end the section."""
    return text.replace("]]>", "]]]]><![CDATA[>")
