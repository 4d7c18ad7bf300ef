"""Console sessions kept on the server: a login opens one, logout or a password change
ends it, and a cookie copied before that opens nothing any more.

The browser's signed cookie carries a random token; the table keeps only its SHA-256, so a
leaked database cannot be turned into live sessions.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from minsheng.clock import utcnow
from minsheng.models import WebSession
from minsheng.tokens import new_token, token_hash

LIFETIME = timedelta(hours=12)


def open_session(uow, user_id: int, address: str | None = None) -> str:
    """A new session for ``user_id``; returns the token for the cookie. Caller commits."""
    token = new_token()
    now = utcnow()
    uow.session.add(WebSession(token_hash=token_hash(token), user_id=user_id, created_at=now,
                               expires_at=now + LIFETIME, address=address))
    return token


def session_user_id(uow, token: str | None) -> int | None:
    """The user of a live session, or None (unknown, expired or revoked)."""
    if not token or not isinstance(token, str):
        return None
    row = uow.session.execute(select(WebSession).where(
        WebSession.token_hash == token_hash(token))).scalar_one_or_none()
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    return row.user_id


def revoke(uow, token: str | None) -> None:
    if token and isinstance(token, str):
        uow.session.execute(update(WebSession).where(
            WebSession.token_hash == token_hash(token), WebSession.revoked_at.is_(None))
            .values(revoked_at=utcnow()))


def revoke_all(uow, user_id: int) -> int:
    """End every live session of ``user_id`` (password changed, account disabled)."""
    result = uow.session.execute(update(WebSession).where(
        WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=utcnow()))
    return result.rowcount or 0
