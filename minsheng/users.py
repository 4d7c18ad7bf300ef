"""Console logins (``WebUser``): create, authenticate, and the grid scope each one sees.

Roles: ``admin`` (everything), ``street`` / ``community`` / ``grid`` (the node they belong
to and every node under it). Passwords are hashed with Argon2id (pwdlib); a hash made by
the earlier PBKDF2-SHA256 scheme (29,000 rounds) is still accepted once and replaced by an
Argon2id hash at that login.
"""
from __future__ import annotations

from dataclasses import dataclass

from passlib.hash import pbkdf2_sha256
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import select

from minsheng.db import UnitOfWork
from minsheng.enums import GridLevel
from minsheng.models import Grid, Staff, WebUser
from minsheng.sessions import revoke_all

ROLES = ("admin", "street", "community", "grid")
ROLE_LABELS = {"admin": "管理员", "street": "街道", "community": "社区", "grid": "网格员"}
# A scoped role must hang on a grid node of a fitting level.
ROLE_LEVELS = {
    "street": {GridLevel.street},
    "community": {GridLevel.community},
    "grid": {GridLevel.grid, GridLevel.micro_grid},
}
MIN_PASSWORD = 8
# OWASP's first Argon2id configuration (19 MiB, 2 passes, 1 lane): one lane because a
# console host has few cores; a change here rehashes each password at its next login.
HASHER = PasswordHash((Argon2Hasher(time_cost=2, memory_cost=19456, parallelism=1),))
LEGACY_PREFIX = "$pbkdf2-sha256$"
# Verified against when the username does not exist, so both answers take as long.
_DUMMY_HASH = HASHER.hash("timing-equaliser")


class UserError(ValueError):
    """A user could not be created or changed; the message is shown as is (Chinese)."""


@dataclass(frozen=True)
class UserView:
    id: int
    username: str
    role: str
    grid_id: int | None
    grid_code: str | None
    staff_id: int | None

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify_password(password: str, stored: str) -> tuple[bool, str | None]:
    """Whether ``password`` matches, and a new hash when ``stored`` should be replaced."""
    if stored.startswith(LEGACY_PREFIX):
        valid = pbkdf2_sha256.verify(password, stored)
        return valid, hash_password(password) if valid else None
    return HASHER.verify_and_update(password, stored)


def _view(user: WebUser, grid: Grid | None) -> UserView:
    return UserView(user.id, user.username, user.role, user.grid_id,
                    grid.code if grid else None, user.staff_id)


def create_user(uow: UnitOfWork, username: str, password: str, role: str,
                grid_code: str | None = None, staff_id: int | None = None) -> UserView:
    """Add a login; the caller commits. Scoped roles need a grid of a fitting level."""
    session = uow.session
    username = (username or "").strip()
    if not username or len(username) > 50:
        raise UserError("用户名不能为空，且不超过 50 个字符")
    if role not in ROLES:
        raise UserError(f"角色必须是 {', '.join(ROLES)} 之一")
    if len(password or "") < MIN_PASSWORD:
        raise UserError(f"密码至少 {MIN_PASSWORD} 位")
    if session.execute(select(WebUser.id).where(WebUser.username == username)).first():
        raise UserError(f"用户名 {username} 已存在")
    grid = None
    if role != "admin":
        if not grid_code:
            raise UserError("街道、社区和网格员账号必须指定网格编码（--grid）")
        grid = session.execute(select(Grid).where(Grid.code == grid_code)).scalar_one_or_none()
        if grid is None:
            raise UserError(f"找不到网格编码 {grid_code}")
        if grid.level not in ROLE_LEVELS[role]:
            raise UserError(f"网格 {grid_code} 的层级是 {grid.level.value}，与角色 {role} 不符")
    if staff_id is not None and session.get(Staff, staff_id) is None:
        raise UserError(f"找不到工作人员 {staff_id}")
    user = WebUser(username=username, password_hash=hash_password(password), role=role,
                   grid_id=grid.id if grid else None, staff_id=staff_id, active=True)
    session.add(user)
    session.flush()
    return _view(user, grid)


def authenticate(uow: UnitOfWork, username: str, password: str) -> UserView | None:
    """The active user with this name and password, else None (same answer for both).

    A valid password under an outdated hash gets a new hash; the caller commits.
    """
    user = uow.session.execute(
        select(WebUser).where(WebUser.username == (username or "").strip())
    ).scalar_one_or_none()
    if user is None or not user.active:
        HASHER.verify(password or "", _DUMMY_HASH)  # do not reveal which usernames exist
        return None
    valid, new_hash = verify_password(password or "", user.password_hash)
    if not valid:
        return None
    if new_hash:
        user.password_hash = new_hash
    return get_user(uow, user.id)


def get_user(uow: UnitOfWork, user_id: int) -> UserView | None:
    user = uow.session.get(WebUser, user_id)
    if user is None or not user.active:
        return None
    grid = uow.session.get(Grid, user.grid_id) if user.grid_id else None
    return _view(user, grid)


def set_password(uow: UnitOfWork, username: str, password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise UserError(f"密码至少 {MIN_PASSWORD} 位")
    user = uow.session.execute(
        select(WebUser).where(WebUser.username == username)
    ).scalar_one_or_none()
    if user is None:
        raise UserError(f"找不到用户 {username}")
    user.password_hash = hash_password(password)
    revoke_all(uow, user.id)  # a stolen session must not outlive the old password


def scope_grid_ids(uow: UnitOfWork, user: UserView) -> set[int] | None:
    """Ids of the grid nodes the user may see: None means all (admin)."""
    if user.role == "admin":
        return None
    if user.grid_id is None:
        return set()
    rows = uow.session.execute(select(Grid.id, Grid.parent_id)).all()
    children: dict[int | None, list[int]] = {}
    for node_id, parent_id in rows:
        children.setdefault(parent_id, []).append(node_id)
    seen = {user.grid_id}
    stack = [user.grid_id]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def main(argv: list[str]) -> int:
    """``minsheng user add|passwd …`` (``minsheng.cli`` dispatches here with the argv rest)."""
    import argparse
    import getpass
    import sys

    from minsheng.db import Database
    from minsheng.settings import load_settings

    parser = argparse.ArgumentParser(prog="minsheng user", description="网页控制台账号")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="add a console login")
    add.add_argument("--username", required=True)
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--grid", help="grid code (网格编码) for street, community and grid roles")
    add.add_argument("--staff-id", type=int, help="the Staff row this login acts as")
    add.add_argument("--password", help="omit to be asked (or set MINSHENG_NEW_PASSWORD)")
    passwd = sub.add_parser("passwd", help="set a new password")
    passwd.add_argument("--username", required=True)
    passwd.add_argument("--password")
    args = parser.parse_args(argv)

    import os

    password = args.password or os.environ.get("MINSHENG_NEW_PASSWORD")
    if not password:
        password = getpass.getpass("密码：")
        if getpass.getpass("再输一次：") != password:
            print("两次输入的密码不一致", file=sys.stderr)
            return 2
    database = Database(load_settings().database_url)
    try:
        with database.uow() as uow:
            if args.command == "add":
                user = create_user(uow, args.username, password, args.role, args.grid,
                                   args.staff_id)
                uow.commit()
                print(f"已创建账号 {user.username}（{user.role_label}"
                      f"{'，网格 ' + user.grid_code if user.grid_code else ''}）")
            else:
                set_password(uow, args.username, password)
                uow.commit()
                print(f"已更新 {args.username} 的密码")
    except UserError as error:
        print(f"错误：{error}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    return 0


if __name__ == "__main__":  # python -m minsheng.users add --username admin --role admin
    import sys as _sys

    _sys.exit(main(_sys.argv[1:]))


def ensure_first_admin(uow: UnitOfWork) -> str | None:
    """On a console with no logins, add `admin` with a random password and return it.

    Returns None when any login exists already, so calling it on every start is safe.
    """
    import secrets

    if uow.session.execute(select(WebUser.id).limit(1)).first():
        return None
    password = secrets.token_urlsafe(9)
    create_user(uow, "admin", password, "admin")
    uow.commit()
    return password
