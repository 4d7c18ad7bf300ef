"""Shared building blocks of the case services: loading, events, people, the grid tree."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from minsheng.enums import OPEN_STATES, ActorType, CaseState, GridLevel, StaffRole
from minsheng.errors import NotFound
from minsheng.lifecycle import target_state
from minsheng.models import Case, CaseEvent, CaseFollower, Grid, Resident, ResidentIdentity, Staff

from .contract import ResidentRef


def load_case(session: Session, case_no: str, lock: bool = True) -> Case:
    """The case, row-locked (FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE serialises)."""
    query = select(Case).where(Case.case_no == (case_no or "").strip().upper())
    if lock:
        query = query.with_for_update()
    case = session.execute(query).scalar_one_or_none()
    if case is None:
        raise NotFound(f"没有找到工单 {case_no}。")
    return case


def record(session: Session, case: Case, action: str, now: datetime, *,
           actor_type: ActorType, actor_id: int | None = None, note: str | None = None,
           to_state: CaseState | None = None, data: dict | None = None) -> CaseEvent:
    """Append one audit event and move the case to ``to_state`` (if given)."""
    from_state = CaseState(case.state)
    if to_state is not None:
        case.state = to_state
    event = CaseEvent(case_id=case.id, at=now, actor_type=actor_type, actor_id=actor_id,
                      action=action, from_state=from_state, to_state=CaseState(case.state),
                      note=note, data=data)
    session.add(event)
    return event


def transition(session: Session, case: Case, action: str, now: datetime, **kwargs):
    """Check the state machine and record the event; None when already done (no-op)."""
    target = target_state(action, case.state, case.case_no)
    if target is None:
        return None
    return record(session, case, kwargs.pop("event_action", action), now,
                  to_state=target, **kwargs)


def staff_actor(staff_id: int | None) -> dict:
    if staff_id is None:
        return {"actor_type": ActorType.system, "actor_id": None}
    return {"actor_type": ActorType.staff, "actor_id": staff_id}


def get_staff(session: Session, staff_id: int) -> Staff:
    member = session.get(Staff, staff_id)
    if member is None or not member.active:
        raise NotFound("没有这位工作人员，或已停用。")
    return member


def ancestors(session: Session, grid_id: int | None) -> list[Grid]:
    """The grid node and its ancestors, nearest first."""
    chain: list[Grid] = []
    seen: set[int] = set()
    while grid_id is not None and grid_id not in seen:
        seen.add(grid_id)
        grid = session.get(Grid, grid_id)
        if grid is None:
            break
        chain.append(grid)
        grid_id = grid.parent_id
    return chain


def public_grid_name(session: Session, grid_id: int | None) -> str | None:
    """The nearest grid node residents know by name: a micro-grid is shown as its grid."""
    for node in ancestors(session, grid_id):
        if GridLevel(node.level) != GridLevel.micro_grid:
            return node.name
    return None


def open_load(session: Session, staff_ids: list[int]) -> dict[int, int]:
    """Open cases per staff member, in one GROUP BY."""
    if not staff_ids:
        return {}
    rows = session.execute(
        select(Case.assignee_id, func.count()).where(
            Case.assignee_id.in_(staff_ids), Case.state.in_(list(OPEN_STATES)))
        .group_by(Case.assignee_id)).all()
    return {staff_id: count for staff_id, count in rows}


def pick_staff(session: Session, candidates: list[Staff]) -> Staff | None:
    """Prefer on-duty, then the fewest open cases, then the lowest id (stable)."""
    active = [m for m in candidates if m.active]
    if not active:
        return None
    load = open_load(session, [m.id for m in active])
    return min(active, key=lambda m: (not m.on_duty, load.get(m.id, 0), m.id))


def staff_of(session: Session, grid_ids: list[int], roles: set[StaffRole]) -> list[Staff]:
    if not grid_ids:
        return []
    return list(session.execute(
        select(Staff).where(Staff.grid_id.in_(grid_ids), Staff.role.in_(list(roles)),
                            Staff.active.is_(True)).order_by(Staff.id)).scalars())


def find_resident(session: Session, ref: ResidentRef | None) -> Resident | None:
    if ref is None or not ref.external_id:
        return None
    return session.execute(
        select(Resident).join(ResidentIdentity).where(
            ResidentIdentity.channel == ref.channel,
            ResidentIdentity.external_id == str(ref.external_id))).scalar_one_or_none()


def ensure_resident(session: Session, ref: ResidentRef, phone: str | None) -> Resident:
    resident = find_resident(session, ref)
    if resident is None:
        try:
            with session.begin_nested():  # a first message arriving twice at once
                resident = Resident(display_name=ref.display_name, phone=phone)
                session.add(resident)
                session.flush()
                session.add(ResidentIdentity(resident_id=resident.id, channel=ref.channel,
                                             external_id=str(ref.external_id)))
                session.flush()
        except IntegrityError:
            resident = find_resident(session, ref)
            if resident is None:
                raise
    else:
        if phone and not resident.phone:
            resident.phone = phone
        if ref.display_name and not resident.display_name:
            resident.display_name = ref.display_name
    return resident


def is_party(session: Session, case: Case, resident: Resident | None) -> bool:
    """The reporter or a follower (a duplicate report merged into the case)."""
    if resident is None:
        return False
    if case.resident_id == resident.id:
        return True
    return session.execute(select(CaseFollower.id).where(
        CaseFollower.case_id == case.id, CaseFollower.resident_id == resident.id)).first() \
        is not None
