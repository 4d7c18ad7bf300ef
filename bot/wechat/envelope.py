"""What wraps a message on the wire: plaintext (明文模式) or safe mode (安全模式, AES).

In safe mode WeChat POSTs ``<xml><ToUserName/><Encrypt/></xml>`` with ``encrypt_type=aes``
and ``msg_signature`` (SHA-1 over token, timestamp, nonce and the ciphertext) in the query.
Unlike the URL signature, msg_signature covers the body, so nothing is decrypted, stored or
answered unless it matches; the plaintext ends with our app id (wechatpy checks it).
Passive replies go back encrypted and signed the same way; "success" stays plain (WeChat
accepts it in every mode). With the key set, a plaintext POST is refused: safe mode is
chosen so that an unencrypted body cannot be slipped in under a captured URL signature.
The cipher is wechatpy's ``WeChatCrypto`` (AES-256-CBC on the ``cryptography`` package).
"""
from __future__ import annotations

import logging
import struct
import time
from xml.parsers.expat import ExpatError

import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException

from bot.wechat.protocol import MAX_BODY_BYTES, BadMessage, signature_valid
from minsheng.settings import Settings

log = logging.getLogger(__name__)

AES = "aes"


class Refused(ValueError):
    """Not opened: wrong mode, a bad msg_signature, or a ciphertext that is not ours."""


class Plain:
    """Plaintext mode: the body is the message; a reply goes back as it is."""

    def open(self, body: bytes, encrypt_type: str, msg_signature: str, timestamp: str,
             nonce: str) -> bytes:
        if encrypt_type:
            log.error("WeChat sent an encrypted message but MINSHENG_WECHAT_ENCODING_AES_KEY "
                      "is not set; refused")
            raise Refused(f"encrypt_type={encrypt_type} without a key")
        return body

    def seal(self, reply: str, nonce: str) -> str:
        return reply


class SafeMode:
    """Safe mode: every POST is verified by its msg_signature, then decrypted."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        self._token = token
        self._crypto = WeChatCrypto(token, encoding_aes_key, app_id)

    def open(self, body: bytes, encrypt_type: str, msg_signature: str, timestamp: str,
             nonce: str, now: float | None = None) -> bytes:
        """The plaintext XML; ``Refused`` (→ 403) or ``BadMessage`` (→ 400) otherwise."""
        if encrypt_type.lower() != AES:
            raise Refused("a plaintext message while safe mode is on")
        ciphertext = _ciphertext(body)
        if not signature_valid(self._token, msg_signature, timestamp, nonce, ciphertext,
                               now=now):
            raise Refused("bad msg_signature")
        try:
            plain = self._crypto.decrypt_message({"Encrypt": ciphertext}, msg_signature.lower(),
                                                 timestamp, nonce)
        except (InvalidSignatureException, InvalidAppIdException, ValueError, TypeError,
                IndexError, struct.error) as error:  # signed with our token, yet not our key or app id
            log.error("WeChat message with a valid msg_signature could not be decrypted "
                      "(is MINSHENG_WECHAT_ENCODING_AES_KEY the account's?): %s",
                      type(error).__name__)
            raise Refused("not decryptable with our key") from None
        return plain.encode()

    def seal(self, reply: str, nonce: str, now: float | None = None) -> str:
        """A passive reply, encrypted and signed for WeChat."""
        return self._crypto.encrypt_message(reply, nonce, str(int(now or time.time())))


def _ciphertext(body: bytes) -> str:
    if not body or len(body) > MAX_BODY_BYTES:
        raise BadMessage("empty or too large")
    try:
        fields = xmltodict.parse(body, disable_entities=True).get("xml") or {}
    except (ExpatError, ValueError, AttributeError) as error:
        raise BadMessage(f"{type(error).__name__}: {error}") from None
    ciphertext = fields.get("Encrypt") if isinstance(fields, dict) else None
    if not isinstance(ciphertext, str) or not ciphertext:
        raise BadMessage("no Encrypt field")
    return ciphertext


def for_settings(settings: Settings) -> Plain | SafeMode:
    """The envelope the account is configured for."""
    if settings.wechat_encoding_aes_key:
        assert settings.wechat_token and settings.wechat_app_id
        return SafeMode(settings.wechat_token, settings.wechat_encoding_aes_key,
                        settings.wechat_app_id)
    return Plain()
