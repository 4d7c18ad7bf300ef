"""加签: the owner or a supervisor adds a co-handling grid (by its code) or one staff member
(a department, say). Co-handlers see the case in their lists and add progress notes; they
cannot 办结 — the lead owner closes it. Event ``cosign`` with data ``{"grid_code"}`` or
``{"staff_id"}``; adding the same co-handler twice changes nothing.
"""
from __future__ import annotations

from sqlalchemy import or_, select

from minsheng.clock import utcnow
from minsheng.enums import OPEN_STATES
from minsheng.errors import InvalidInput, NotFound
from minsheng.lifecycle import target_state
from minsheng.models import Case, CaseCosigner, Grid, Staff

from . import notify
from .access import check_may_act
from .common import load_case, record, staff_actor


def is_cohandler(session, member: Staff | None, case: Case) -> bool:
    if member is None or not member.active:
        return False
    return session.execute(select(CaseCosigner.id).where(
        CaseCosigner.case_id == case.id,
        or_(CaseCosigner.staff_id == member.id, CaseCosigner.grid_id == member.grid_id))
    ).first() is not None


def cohandlers(session, case: Case) -> list[str]:
    """The co-handlers as words for a page: grid names and staff public names."""
    rows = session.execute(select(CaseCosigner).where(CaseCosigner.case_id == case.id)
                           .order_by(CaseCosigner.id)).scalars()
    names = []
    for row in rows:
        if row.grid_id is not None:
            grid = session.get(Grid, row.grid_id)
            names.append(f"{grid.name}（{grid.code}）")
        elif row.staff_id is not None:
            names.append(session.get(Staff, row.staff_id).public_name)
    return names


def case_ids_of(session, member: Staff) -> set[int]:
    """Open cases this staff member co-handles (directly or through their grid)."""
    return set(session.execute(select(CaseCosigner.case_id).join(
        Case, Case.id == CaseCosigner.case_id).where(
        Case.state.in_(list(OPEN_STATES)),
        or_(CaseCosigner.staff_id == member.id, CaseCosigner.grid_id == member.grid_id))
    ).scalars())


def grid_by_code(session, code: str) -> Grid | None:
    return session.execute(select(Grid).where(Grid.code == code)).scalar_one_or_none()


def _target(session, grid_code: str | None, staff_id: int | None):
    """(grid, None) or (None, staff) from the form's values; Chinese errors otherwise."""
    code = (grid_code or "").strip()
    if code:
        grid = grid_by_code(session, code)
        if grid is None:
            raise NotFound(f"没有网格编码为「{code[:40]}」的网格。")
        return grid, None
    if staff_id is None:
        raise InvalidInput("请填写加签的网格编码，或选择一位工作人员。")
    member = session.get(Staff, staff_id) if 0 < staff_id < 2**31 else None
    if member is None or not member.active:
        raise NotFound("没有这位工作人员，或已停用。")
    return None, member


def add(uow, case_no: str, staff_id: int, grid_code: str | None = None,
        cosign_staff_id: int | None = None, now=None) -> bool:
    """加签 a grid or a staff member; False when they already co-handle the case."""
    session, now = uow.session, now or utcnow()
    case = load_case(session, case_no)
    check_may_act(session, staff_id, case)
    target_state("cosign", case.state, case.case_no)
    grid, member = _target(session, grid_code, cosign_staff_id)
    if grid is not None and grid.id == case.grid_id:
        raise InvalidInput("这就是工单的承办网格，无需加签。")
    if member is not None and member.id == case.assignee_id:
        raise InvalidInput("这位就是工单的承办人，无需加签。")
    exists = session.execute(select(CaseCosigner.id).where(
        CaseCosigner.case_id == case.id,
        CaseCosigner.grid_id == grid.id if grid is not None
        else CaseCosigner.staff_id == member.id)).first()
    if exists:
        return False
    session.add(CaseCosigner(case_id=case.id, grid_id=grid.id if grid else None,
                             staff_id=member.id if member else None, added_by=staff_id,
                             added_at=now))
    name = f"{grid.name}（{grid.code}）" if grid is not None else member.public_name
    data = {"grid_code": grid.code} if grid is not None else {"staff_id": member.id}
    record(session, case, "cosign", now, note=f"加签：{name}协同办理", data=data,
           **staff_actor(staff_id))
    told = [member] if member is not None else list(session.execute(select(Staff).where(
        Staff.grid_id == grid.id, Staff.active.is_(True)).order_by(Staff.id)).scalars())
    for person in told:
        notify.tell_staff(uow, person, "case_cosigned",
                          f"请协同办理（加签）：{notify.case_summary(case)}", case, now,
                          relation="cohandler")
    uow.commit()
    return True


def case_ids_for_scope(session, grid_ids: set[int], staff_id: int | None) -> set[int]:
    """Cases co-handled by a grid of ``grid_ids`` or by ``staff_id`` (a console's scope)."""
    conditions = [CaseCosigner.grid_id.in_(grid_ids or {-1})]
    if staff_id is not None:
        conditions.append(CaseCosigner.staff_id == staff_id)
    return set(session.execute(select(CaseCosigner.case_id).where(or_(*conditions))).scalars())


def open_views_of(uow, staff_id: int) -> list:
    """The open cases a staff member co-handles, as case views (their 加签 list)."""
    from .queries import get_case

    session = uow.session
    member = session.get(Staff, staff_id)
    if member is None:
        return []
    ids = case_ids_of(session, member)
    numbers = session.execute(select(Case.case_no).where(Case.id.in_(ids or {-1}))
                              .order_by(Case.resolve_deadline, Case.id)).scalars()
    return [get_case(uow, no) for no in numbers]
