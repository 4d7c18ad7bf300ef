"""Who may act on a case: its assignee, staff above its grid in the tree, or an admin."""
from __future__ import annotations

from sqlalchemy.orm import Session

from minsheng.enums import StaffRole
from minsheng.errors import NotAllowed
from minsheng.models import Case, Staff

from .common import ancestors, load_case

# Supervisors attached to the case's own grid node; a fellow grid worker is not one.
SUPERVISING_ROLES = {StaffRole.grid_leader, StaffRole.community, StaffRole.street,
                     StaffRole.police_liaison, StaffRole.enforcement, StaffRole.department}


def may_act_on(session: Session, member: Staff | None, case: Case) -> bool:
    if member is None or not member.active:
        return False
    if StaffRole(member.role) == StaffRole.admin or case.assignee_id == member.id:
        return True
    chain = ancestors(session, case.grid_id)
    if not chain:
        return False
    if member.grid_id == chain[0].id:
        return StaffRole(member.role) in SUPERVISING_ROLES
    return member.grid_id in {node.id for node in chain[1:]}


def check_may_act(session: Session, staff_id: int | None, case: Case) -> Staff | None:
    """The acting staff member; None for the system. Raises NotAllowed otherwise."""
    if staff_id is None:
        return None
    member = session.get(Staff, staff_id)
    if not may_act_on(session, member, case):
        raise NotAllowed(f"您无权办理工单 {case.case_no}（不是承办人，也不在其上级网格）。")
    return member


def staff_may_act(uow, staff_id: int, case_no: str) -> bool:
    """True if this staff member may act on the case; NotFound if there is no such case."""
    session = uow.session
    case = load_case(session, case_no, lock=False)
    return may_act_on(session, session.get(Staff, staff_id), case)
