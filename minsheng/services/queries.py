"""Read models: one case as a CaseView, a resident's cases, a staff member's tasks."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload

from minsheng.clock import utcnow
from minsheng.enums import (
    CATEGORY_LABELS,
    OPEN_STATES,
    RATING_LABELS,
    STATE_LABELS,
    CaseState,
    Category,
    Channel,
    Rating,
)
from minsheng.lifecycle import TRANSITIONS, UNACKNOWLEDGED
from minsheng.models import Case, CaseFollower, CaseRating, Grid, Staff
from minsheng.privacy import mask_phone

from . import cosign
from .common import find_resident, load_case, public_grid_name
from .contract import CaseView, Contact, EventView, PhotoView, RatingView, ResidentRef

EXTRA_ACTION_LABELS = {"open": "受理", "follow": "同一问题又有反映", "overdue_ack": "超时未签收督办",
                       "overdue_resolve": "超时未办结督办", "rating_reminder": "提醒评价"}


def action_label(action: str) -> str:
    if action in EXTRA_ACTION_LABELS:
        return EXTRA_ACTION_LABELS[action]
    transition = TRANSITIONS.get(action)
    return transition.label if transition else action


def overdue_condition(now: datetime):
    """Open and past the resolve deadline, or unacknowledged past the ack deadline."""
    return and_(Case.state.in_(list(OPEN_STATES)), or_(
        Case.resolve_deadline < now,
        and_(Case.state.in_(list(UNACKNOWLEDGED)), Case.ack_deadline < now)))


def is_overdue(case: Case, now: datetime) -> bool:
    state = CaseState(case.state)
    if state not in OPEN_STATES:
        return False
    if case.resolve_deadline is not None and case.resolve_deadline < now:
        return True
    return state in UNACKNOWLEDGED and case.ack_deadline is not None and case.ack_deadline < now


def event_detail(action: str, data) -> str | None:
    """What an event's data adds to its note, for the timeline (办结: method, departments)."""
    from .methods import LABELS

    if action != "resolve" or not isinstance(data, dict) or not data.get("handling"):
        return None
    label = LABELS.get(data["handling"], data["handling"])
    names = "、".join(d["name"] for d in data.get("departments") or [])
    return f"处理方式：{label}" + (f"；部门：{names}" if names else "")


def _with_details(query):
    return query.options(selectinload(Case.events), selectinload(Case.photos),
                         selectinload(Case.grid), selectinload(Case.assignee))


def view_of(session: Session, case: Case, now: datetime | None = None) -> CaseView:
    now = now or utcnow()
    names = {m.id: m.public_name for m in session.execute(select(Staff).where(Staff.id.in_(
        {e.actor_id for e in case.events if e.actor_id and str(e.actor_type) == "staff"}
    ))).scalars()} if case.events else {}
    rating = session.execute(select(CaseRating).where(CaseRating.case_id == case.id)
                             .order_by(CaseRating.id.desc()).limit(1)).scalar_one_or_none()
    followers = len(session.execute(select(CaseFollower.id).where(
        CaseFollower.case_id == case.id)).all())
    merged_into = session.get(Case, case.merged_into_id).case_no if case.merged_into_id else None
    state = CaseState(case.state)
    hidden = bool(case.anonymous)  # 匿名反映: no channel may show who reported it
    return CaseView(
        case_no=case.case_no, category=Category(case.category),
        category_label=CATEGORY_LABELS[Category(case.category)], state=state.value,
        state_label=STATE_LABELS[state], description=case.description, xiaoqu=case.xiaoqu,
        building=case.building, unit=case.unit, room=case.room, address=case.address,
        lat=case.lat, lon=case.lon, channel=str(case.channel), urgent=bool(case.urgent),
        handling=str(case.handling) if case.handling else None, level=str(case.level),
        grid_code=case.grid.code if case.grid else None,
        grid_name=case.grid.name if case.grid else None, assignee_id=case.assignee_id,
        assignee_name=case.assignee.public_name if case.assignee else None,
        assignee_phone=case.assignee.duty_phone if case.assignee else None,
        phone=None if hidden else mask_phone(case.phone),
        resident_id=None if hidden else case.resident_id, merged_into=merged_into,
        accepted_at=case.accepted_at, ack_deadline=case.ack_deadline,
        resolve_deadline=case.resolve_deadline, acknowledged_at=case.acknowledged_at,
        resolved_at=case.resolved_at, resolved_on_time=case.resolved_on_time,
        closed_at=case.closed_at, overdue=is_overdue(case, now), followers=followers,
        photos=[PhotoView(p.id, p.path, str(p.added_by), p.added_at) for p in case.photos],
        events=[EventView(e.at, str(e.actor_type),
                          None if hidden and str(e.actor_type) == "resident" else e.actor_id,
                          names.get(e.actor_id) if str(e.actor_type) == "staff" else None,
                          e.action, action_label(e.action),
                          str(e.from_state) if e.from_state else None,
                          str(e.to_state) if e.to_state else None, e.note,
                          event_detail(e.action, e.data))
                for e in case.events],
        rating=RatingView(str(rating.value), RATING_LABELS[Rating(rating.value)],
                          str(rating.route), rating.comment, rating.at) if rating else None,
        pending_extension=_pending_extension(session, case),
        cohandlers=tuple(cosign.cohandlers(session, case)),
        anonymous=hidden,
    )


def _pending_extension(session: Session, case: Case) -> str | None:
    from .extension import pending

    row = pending(session, case)
    return f"{row.days}天：{row.reason}" if row is not None else None


def get_case(uow, case_no: str) -> CaseView:
    session = uow.session
    load_case(session, case_no, lock=False)  # NotFound with a Chinese message
    case = session.execute(_with_details(select(Case)).where(
        Case.case_no == case_no.strip().upper())).scalar_one()
    return view_of(session, case)


def cases_of_resident(uow, resident: ResidentRef) -> list[CaseView]:
    """Cases the resident reported or follows, newest first."""
    session = uow.session
    person = find_resident(session, resident)
    if person is None:
        return []
    followed = select(CaseFollower.case_id).where(CaseFollower.resident_id == person.id)
    rows = session.execute(_with_details(select(Case)).where(
        or_(Case.resident_id == person.id, Case.id.in_(followed)),
        Case.state != CaseState.merged).order_by(Case.accepted_at.desc(), Case.id.desc())
    ).scalars()
    return [view_of(session, case) for case in rows]


def open_cases_of_staff(uow, staff_id: int) -> list[CaseView]:
    """The staff member's open tasks, most urgent deadline first."""
    session = uow.session
    rows = session.execute(_with_details(select(Case)).where(
        Case.assignee_id == staff_id, Case.state.in_(list(OPEN_STATES)))
        .order_by(Case.resolve_deadline, Case.id)).scalars()
    return [view_of(session, case) for case in rows]


def list_cases(uow, state=None, category=None, grid_code=None, channel=None, overdue=None,
               limit=100, now=None) -> list[CaseView]:
    """Newest first; ``grid_code`` means that node and everything below it."""
    session, now = uow.session, now or utcnow()
    query = _with_details(select(Case))
    if state is not None:
        query = query.where(Case.state == CaseState(state))
    if category is not None:
        query = query.where(Case.category == Category(category))
    if channel is not None:
        query = query.where(Case.channel == Channel(channel))
    if grid_code is not None:
        query = query.where(Case.grid_id.in_(subtree_ids(session, grid_code) or {-1}))
    if overdue is True:
        query = query.where(overdue_condition(now))
    elif overdue is False:
        query = query.where(~overdue_condition(now))
    rows = session.execute(query.order_by(Case.accepted_at.desc(), Case.id.desc())
                           .limit(limit)).scalars()
    return [view_of(session, case, now) for case in rows]


def subtree_ids(session: Session, code: str) -> set[int]:
    rows = session.execute(select(Grid.id, Grid.parent_id, Grid.code)).all()
    root = next((r.id for r in rows if r.code == code), None)
    if root is None:
        return set()
    children: dict[int, list[int]] = {}
    for node_id, parent_id, _code in rows:
        children.setdefault(parent_id, []).append(node_id)
    seen, stack = {root}, [root]
    while stack:
        for child in children.get(stack.pop(), []):
            seen.add(child)
            stack.append(child)
    return seen


def contact_for_resident(uow, resident: ResidentRef) -> Contact | None:
    """Whom a resident may call (公示牌: public name, duty phone): the worker of their
    latest case, or — with no case yet — the community desk."""
    from .routing import community_desk, worker_for

    session = uow.session
    person = find_resident(session, resident)
    row = None if person is None else session.execute(
        select(Staff, Grid).join(Case, Case.assignee_id == Staff.id)
        .join(Grid, Grid.id == Case.grid_id, isouter=True)
        .where(Case.resident_id == person.id, Staff.active.is_(True))
        .order_by(Case.accepted_at.desc(), Case.id.desc()).limit(1)).first()
    if row is not None:
        member, grid = row
        return Contact(member.public_name, member.duty_phone,
                       public_grid_name(session, grid.id) if grid else None)
    desk = community_desk(list(session.execute(select(Grid)).scalars()), None, session)
    member = worker_for(session, desk) if desk is not None else None
    if member is None:
        return None
    return Contact(member.public_name, member.duty_phone, desk.name)


__all__ = [
    "cases_of_resident",
    "contact_for_resident",
    "get_case",
    "list_cases",
    "open_cases_of_staff",
]
