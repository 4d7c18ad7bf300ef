"""Passwords: Argon2id; an old PBKDF2 hash works once and is replaced at that login."""
from __future__ import annotations

from passlib.hash import pbkdf2_sha256
from sqlalchemy import select

from minsheng.models import WebUser
from minsheng.users import authenticate, create_user


def stored_hash(db) -> str:
    with db.uow() as uow:
        return uow.session.execute(select(WebUser.password_hash)).scalar_one()


def test_new_passwords_are_hashed_with_argon2id(db):
    with db.uow() as uow:
        create_user(uow, "admin", "correct-horse-9", "admin")
        uow.commit()
    assert stored_hash(db).startswith("$argon2id$")


def test_a_legacy_pbkdf2_hash_logs_in_once_and_is_replaced_by_argon2id(db):
    with db.uow() as uow:
        create_user(uow, "admin", "correct-horse-9", "admin")
        uow.session.execute(select(WebUser)).scalar_one().password_hash = \
            pbkdf2_sha256.using(rounds=29000).hash("correct-horse-9")
        uow.commit()
    with db.uow() as uow:
        assert authenticate(uow, "admin", "wrong-horse-9") is None
        uow.commit()
    assert stored_hash(db).startswith("$pbkdf2-sha256$29000$")  # a wrong guess changes nothing
    with db.uow() as uow:
        assert authenticate(uow, "admin", "correct-horse-9").username == "admin"
        uow.commit()
    assert stored_hash(db).startswith("$argon2id$")
    with db.uow() as uow:
        assert authenticate(uow, "admin", "correct-horse-9") is not None
