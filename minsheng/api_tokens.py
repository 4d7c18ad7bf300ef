"""Bearer tokens of the JSON API: each acts as one console login (``WebUser``).

A token is ``secrets.token_urlsafe(32)``, shown once; only its SHA-256 is stored, so a
copy of the database gives no working token. ``minsheng token create|revoke`` manage them.
"""
from __future__ import annotations

from sqlalchemy import select

from minsheng.clock import utcnow
from minsheng.db import UnitOfWork
from minsheng.models import ApiToken, WebUser
from minsheng.tokens import new_token, token_hash
from minsheng.users import UserError, UserView, get_user

MAX_TOKEN_LENGTH = 200  # a presented value longer than this is not one of ours


def _active_user(uow: UnitOfWork, username: str) -> WebUser:
    user = uow.session.execute(
        select(WebUser).where(WebUser.username == (username or "").strip())
    ).scalar_one_or_none()
    if user is None or not user.active:
        raise UserError(f"找不到账号 {username}，或已停用")
    return user


def create_token(uow: UnitOfWork, username: str) -> str:
    """A new token for the login ``username``; the caller commits. Returns the token."""
    user = _active_user(uow, username)
    token = new_token()
    uow.session.add(ApiToken(user_id=user.id, token_hash=token_hash(token), created_at=utcnow()))
    uow.session.flush()
    return token


def revoke_tokens(uow: UnitOfWork, username: str) -> int:
    """Revoke every live token of ``username``; the caller commits. Returns how many."""
    user = _active_user(uow, username)
    live = uow.session.execute(select(ApiToken).where(
        ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))).scalars().all()
    now = utcnow()
    for row in live:
        row.revoked_at = now
    return len(live)


def user_for_token(uow: UnitOfWork, token: str | None) -> UserView | None:
    """The active login a presented token acts as; None for unknown or revoked tokens."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    user_id = uow.session.execute(select(ApiToken.user_id).where(
        ApiToken.token_hash == token_hash(token), ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    return get_user(uow, user_id) if user_id is not None else None
