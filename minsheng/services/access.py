"""Who may act on a case: its assignee, staff above its grid in the tree, or an admin.

"Above" means both: on the case's grid node or one of its ancestors, *and* in a
supervising role ranked higher on the ladder than the case's current level. So once a case
moved up (上报, 超时督办, a 不满意 rating), the worker who had it — even one sitting on a
parent grid of a micro-grid — can no longer act on it.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from minsheng.enums import LADDER, EscalationLevel, StaffRole
from minsheng.errors import NotAllowed
from minsheng.models import Case, Staff

from .common import ancestors, load_case
from .routing import LEVEL_OF_ROLE

# Supervisors attached to the case's own grid node; a fellow grid worker is not one.
SUPERVISING_ROLES = {StaffRole.grid_leader, StaffRole.community, StaffRole.street,
                     StaffRole.police_liaison, StaffRole.enforcement, StaffRole.department}


def _rank(level) -> int:
    return LADDER.index(EscalationLevel(level))


def ranks_above(member: Staff, case: Case) -> bool:
    """A supervising role ranked higher on the ladder than the case's current level."""
    role = StaffRole(member.role)
    if role not in SUPERVISING_ROLES:
        return False
    return _rank(LEVEL_OF_ROLE[role]) > _rank(case.level or EscalationLevel.grid)


def is_supervisor(session: Session, member: Staff | None, case: Case) -> bool:
    """Above the case's current owner: in its part of the tree and ranked higher (or admin)."""
    if member is None or not member.active:
        return False
    if StaffRole(member.role) == StaffRole.admin:
        return True
    chain = {node.id for node in ancestors(session, case.grid_id)}
    return member.grid_id in chain and ranks_above(member, case)


def may_act_on(session: Session, member: Staff | None, case: Case) -> bool:
    if member is None or not member.active:
        return False
    return case.assignee_id == member.id or is_supervisor(session, member, case)


def check_may_act(session: Session, staff_id: int | None, case: Case) -> Staff | None:
    """The acting staff member; None for the system. Raises NotAllowed otherwise."""
    if staff_id is None:
        return None
    member = session.get(Staff, staff_id)
    if not may_act_on(session, member, case):
        raise NotAllowed(f"您无权办理工单 {case.case_no}（不是承办人，也不在其上级网格）。")
    return member


def check_may_note(session: Session, staff_id: int | None, case: Case) -> Staff | None:
    """Like check_may_act, and co-handlers (加签) too: they may add progress notes."""
    from .cosign import is_cohandler  # cosign builds on this module

    if staff_id is not None and is_cohandler(session, session.get(Staff, staff_id), case):
        return session.get(Staff, staff_id)
    return check_may_act(session, staff_id, case)


def relation(session: Session, staff_id: int | None, case: Case) -> str | None:
    """owner, supervisor, cohandler, or None: what this person is to the case."""
    from .cosign import is_cohandler

    member = session.get(Staff, staff_id) if staff_id is not None else None
    if member is None or not member.active:
        return None
    if case.assignee_id == member.id:
        return "owner"
    if is_supervisor(session, member, case):
        return "supervisor"
    return "cohandler" if is_cohandler(session, member, case) else None


def staff_may_act(uow, staff_id: int, case_no: str) -> bool:
    """True if this staff member may act on the case; NotFound if there is no such case."""
    session = uow.session
    case = load_case(session, case_no, lock=False)
    return may_act_on(session, session.get(Staff, staff_id), case)


def staff_relation(uow, staff_id: int, case_no: str) -> str | None:
    """owner, supervisor, cohandler or None; NotFound if there is no such case."""
    session = uow.session
    return relation(session, staff_id, load_case(session, case_no, lock=False))
