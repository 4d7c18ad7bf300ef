"""WeChat's safe-mode cipher written out from its published message format, for tests
only: the channel uses wechatpy, so checking it against this second reading would catch
a library or wiring mistake that a round trip through wechatpy alone would hide.

Format: key = base64(EncodingAESKey + "="), AES-256-CBC with the key's first 16 bytes as
IV; plaintext = 16 random bytes, the message length (4 bytes, big-endian), the message,
the app id; PKCS#7 padding to a 32-byte block; the result base64-encoded.
"""
from __future__ import annotations

import base64
import hashlib
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32


def _cipher(encoding_aes_key: str) -> Cipher:
    key = base64.b64decode(encoding_aes_key + "=")
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def encrypt(encoding_aes_key: str, app_id: str, message: bytes) -> str:
    raw = os.urandom(16) + struct.pack(">I", len(message)) + message + app_id.encode()
    pad = BLOCK - len(raw) % BLOCK
    raw += bytes([pad]) * pad
    encryptor = _cipher(encoding_aes_key).encryptor()
    return base64.b64encode(encryptor.update(raw) + encryptor.finalize()).decode()


def decrypt(encoding_aes_key: str, ciphertext: str) -> tuple[bytes, str]:
    """(the message, the app id it names)."""
    decryptor = _cipher(encoding_aes_key).decryptor()
    raw = decryptor.update(base64.b64decode(ciphertext)) + decryptor.finalize()
    raw = raw[:-raw[-1]]
    (length,) = struct.unpack(">I", raw[16:20])
    return raw[20:20 + length], raw[20 + length:].decode()


def msg_signature(token: str, timestamp: str, nonce: str, ciphertext: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, ciphertext])).encode()
                        ).hexdigest()
