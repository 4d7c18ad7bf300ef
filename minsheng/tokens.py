"""Opaque tokens (console sessions, API bearer tokens): made random, stored only hashed,
so that a copy of the database opens nothing."""
from __future__ import annotations

import hashlib
import secrets


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
