"""Staff actions from the console and the JSON API: which are offered, and running one.

Both read ``minsheng.staff_actions`` (the one table) and apply the console's scope, so a
form and an API call get the same checks: out of the login's grid scope → 404; an office
action (改派) by a grid login, or a staff action by a login with no staff member → 403;
the rest (lifecycle, permission on the case, note rules) is the table's and the services'.
"""
from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

from fastapi import HTTPException

from minsheng import staff_actions
from minsheng.db import UnitOfWork
from minsheng.errors import DomainError, InvalidInput, NotAllowed
from minsheng.services import access, extension
from minsheng.services.common import load_case
from minsheng.users import UserView
from web import queries
from web.deps import OFFICE_ROLES, Scope

NOT_FOUND = "找不到该工单，或您无权查看"


def check_scope(unit: UnitOfWork, scope: Scope, case_no: str) -> None:
    exists, grid_id = queries.case_grid_id(unit.session, case_no)
    cosigned = exists and getattr(scope, "case_ids", None) \
        and queries.case_id_of(unit.session, case_no) in scope.case_ids  # 加签
    if not exists or not (scope.allows(grid_id) or cosigned):  # out of scope = missing
        raise HTTPException(404, NOT_FOUND)


def may_act(unit: UnitOfWork, user: UserView, case_no: str) -> bool:
    """True if the login's staff member may act on the case (assignee, above it, admin)."""
    if user.staff_id is None:
        return False
    try:
        return bool(access.staff_may_act(unit, user.staff_id, case_no))
    except DomainError:
        return False


def relation(unit: UnitOfWork, user: UserView, case_no: str) -> str | None:
    """owner, supervisor, cohandler (加签) or None for the login's staff member."""
    if user.staff_id is None:
        return None
    try:
        return access.staff_relation(unit, user.staff_id, case_no)
    except DomainError:
        return None


def offered(unit: UnitOfWork, user: UserView, case_no: str, state: str,
            channel: str) -> list[staff_actions.StaffAction]:
    """The table's actions for ``channel`` in ``state`` that this login may use: those for
    what its staff member is to the case (owner, supervisor, co-handler), office ones."""
    office = user.role in OFFICE_ROLES
    reader = relation(unit, user, case_no)
    pending = reader is not None and extension.pending(
        unit.session, load_case(unit.session, case_no, lock=False)) is not None
    return staff_actions.offered_to(SimpleNamespace(state=state), channel, reader,
                                    office=office, pending_extension=pending)


def run(unit: UnitOfWork, user: UserView, scope: Scope, case_no: str, key: str,
        note: str = "", photos: Sequence[str] = (), to_staff_id: int | None = None,
        **extra) -> bool:
    """Run one action in ``unit`` (the caller commits); True when something changed.
    ``extra``: 办结's handling_method, department_ids and settings (the photo rule); 延期 days,
    退单 reason_code, 加签 grid_code.

    HTTPException for scope (404) and role (403) refusals and NotAllowed (403); other
    domain errors (IllegalTransition, InvalidInput, …) are left to the caller to present.
    """
    action = staff_actions.get(key)
    check_scope(unit, scope, case_no)
    if action.office_only:
        if user.role not in OFFICE_ROLES:
            raise HTTPException(403, f"只有社区、街道和管理员可以{action.label}")
        if to_staff_id not in {m.id for m in queries.staff_in_scope(unit.session, scope)}:
            raise InvalidInput(f"只能{action.label}给您管辖范围内的工作人员")
    elif user.staff_id is None:
        raise HTTPException(403, "此账号未关联工作人员，不能办理工单")
    request = staff_actions.Request(case_no, user.staff_id, note, tuple(photos), to_staff_id,
                                    **extra)  # days, reason_code, grid_code; 办结's method
    try:
        return staff_actions.perform(unit, key, request)
    except NotAllowed as error:
        raise HTTPException(403, str(error)) from None
