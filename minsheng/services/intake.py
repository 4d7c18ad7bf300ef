"""Opening a case: idempotent, duplicate-aware, routed and assigned in one unit of work."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from minsheng.clock import DEFAULT_TIMEZONE, to_local, utc_bounds, utcnow
from minsheng.enums import (
    ANONYMOUS_CATEGORIES,
    CHANNEL_LABELS,
    OPEN_STATES,
    ActorType,
    CaseState,
    Category,
    Channel,
)
from minsheng.errors import InvalidInput, QuotaExceeded
from minsheng.models import Case, CaseEvent, CaseFollower, CasePhoto, Grid, Resident, Staff
from minsheng.places import Place, normalize_building, normalize_xiaoqu

from . import limits, notify, routing
from .common import ensure_resident, public_grid_name, record
from .contract import NewCase, OpenResult
from .numbering import next_case_no

MAX_DESCRIPTION = 4000
ANONYMOUS_REFUSED = "只有「治安稳定」和「矛盾纠纷」两类问题可以匿名反映。"


def _result(session: Session, case: Case, created: bool, merged: bool = False) -> OpenResult:
    grid = session.get(Grid, case.grid_id) if case.grid_id else None
    owner = session.get(Staff, case.assignee_id) if case.assignee_id else None
    return OpenResult(
        case_no=case.case_no, created=created, merged_into=case.case_no if merged else None,
        grid_name=grid.name if grid else None,
        assignee_name=owner.public_name if owner else None,
        assignee_phone=owner.duty_phone if owner else None,
        resolve_deadline=case.resolve_deadline, ack_deadline=case.ack_deadline,
        category=Category(case.category),
        public_grid_name=public_grid_name(session, case.grid_id))


def _normal_place(report: NewCase) -> Place | None:
    place = report.place
    if place is None or place.is_empty:
        return None
    building = (normalize_building(place.building) or place.building) if place.building else None
    return Place(place.xiaoqu, building, place.unit, place.room)


def find_duplicate(session: Session, category: Category, place: Place | None) -> Case | None:
    """The oldest open case of the same category at the same 小区+楼栋 (and 单元 if both say)."""
    if place is None or not (place.xiaoqu and place.building):
        return None
    candidates = session.execute(select(Case).where(
        Case.category == category, Case.building == place.building,
        Case.state.in_(list(OPEN_STATES))).order_by(Case.id)).scalars()
    estate = normalize_xiaoqu(place.xiaoqu)
    for case in candidates:
        if case.xiaoqu and normalize_xiaoqu(case.xiaoqu) == estate and (
                not (case.unit and place.unit) or case.unit == place.unit):
            return case
    return None


def _attach(uow, target: Case, report: NewCase, resident: Resident | None, now) -> bool:
    """Attach a duplicate report to ``target``; False if this report was attached before."""
    session = uow.session
    # one indexed look, not every event of the case: a problem many report has many
    already = bool(report.idempotency_key) and session.execute(
        select(CaseEvent.id).where(
            CaseEvent.case_id == target.id, CaseEvent.action == "follow",
            CaseEvent.data["key"].as_string() == report.idempotency_key)).first() is not None
    if resident is not None and resident.id != target.resident_id:
        exists = session.execute(select(CaseFollower.id).where(
            CaseFollower.case_id == target.id, CaseFollower.resident_id == resident.id)).first()
        if exists:
            already = True
        else:
            session.add(CaseFollower(case_id=target.id, resident_id=resident.id))
    if already:
        return False
    for path in report.photos:
        session.add(CasePhoto(case_id=target.id, path=path, added_by=ActorType.resident,
                              added_at=now))
    record(session, target, "follow", now, actor_type=ActorType.resident,
           actor_id=resident.id if resident else None, note=report.description,
           data={"key": report.idempotency_key, "channel": str(report.channel)})
    owner = session.get(Staff, target.assignee_id) if target.assignee_id else None
    notify.tell_staff(uow, owner, "case_follow",
                      f"又有居民反映同一问题：{report.description[:100]}", target, now)
    return True


def _validate(report: NewCase) -> None:
    if not (report.description or "").strip():
        raise InvalidInput("请描述一下遇到的问题。")
    try:
        Category(report.category)
        Channel(report.channel)
    except ValueError as error:
        raise InvalidInput("问题类别或渠道无效。") from error
    if report.anonymous and Category(report.category) not in ANONYMOUS_CATEGORIES:
        raise InvalidInput(ANONYMOUS_REFUSED)


def _by_key(session: Session, key: str | None) -> Case | None:
    if not key:
        return None
    return session.execute(select(Case).where(Case.idempotency_key == key)).scalar_one_or_none()


def open_case(uow, report: NewCase, *, now=None, settings=None) -> OpenResult:
    """new → routed → assigned, with an event for each step and the assignee notified."""
    _validate(report)
    session, now = uow.session, now or utcnow()
    tz = settings.timezone if settings is not None else DEFAULT_TIMEZONE
    existing = _by_key(session, report.idempotency_key)
    if existing is not None:
        return _result(session, existing, created=False)
    category, place = Category(report.category), _normal_place(report)
    resident = ensure_resident(session, report.resident, report.phone) if report.resident else None
    if resident is not None and settings is not None and not report.urgent:
        _check_quota(session, resident.id, Channel(report.channel), now, tz,
                     settings.daily_case_quota)
    duplicate = None if report.urgent else find_duplicate(session, category, place)
    if duplicate is not None:
        _attach(uow, duplicate, report, resident, now)
        # the answer read before the commit: after it, its reads would begin a second
        # transaction (on SQLite a writer's, BEGIN IMMEDIATE) for six SELECTs
        result = _result(session, duplicate, created=False, merged=True)
        uow.commit()
        return result
    ack_deadline, resolve_deadline = limits.deadlines(session, category, report.urgent, now, tz)
    case = Case(
        case_no=next_case_no(session, now, tz), idempotency_key=report.idempotency_key,
        category=category, description=report.description.strip()[:MAX_DESCRIPTION],
        xiaoqu=place.xiaoqu if place else None, building=place.building if place else None,
        unit=place.unit if place else None, room=place.room if place else None,
        address=report.address or (place.text() if place else None),
        lat=report.lat, lon=report.lon, channel=Channel(report.channel),
        urgent=bool(report.urgent), anonymous=bool(report.anonymous), state=CaseState.new,
        handling=report.handling,
        resident_id=resident.id if resident else None,
        phone=report.phone or (resident.phone if resident else None),
        accepted_at=now, ack_deadline=ack_deadline, resolve_deadline=resolve_deadline)
    try:
        with session.begin_nested():  # a concurrent twin with the same key loses here
            session.add(case)
            session.flush()
    except IntegrityError:
        twin = _by_key(session, report.idempotency_key)
        if twin is None:
            raise
        return _result(session, twin, created=False)
    _route_and_assign(uow, case, report, place, now)
    result = _result(session, case, created=True)  # before the commit, as above
    uow.commit()
    return result


def _check_quota(session, resident_id: int, channel: Channel, now, tz: str, quota: int) -> None:
    """Online residents open at most ``quota`` cases a local day; staff-entered ones are
    not counted against anyone."""
    if channel not in notify.ONLINE_CHANNELS:
        return
    today = to_local(now, tz).date()
    start, _end = utc_bounds(today, today, tz)
    opened = session.execute(select(func.count(Case.id)).where(
        Case.resident_id == resident_id, Case.accepted_at >= start)).scalar()
    if opened >= quota:
        raise QuotaExceeded(f"您今天已经提交了 {opened} 件问题，今天不能再提交了。"
                            "紧急情况请直接拨打 110 / 119 / 120，其他问题请明天再报。")


def _route_and_assign(uow, case: Case, report: NewCase, place: Place | None, now) -> None:
    session = uow.session
    for path in report.photos:
        session.add(CasePhoto(case_id=case.id, path=path, added_by=ActorType.resident,
                              added_at=now))
    opened = record(session, case, "open", now, actor_type=ActorType.resident
                    if case.resident_id else ActorType.system, actor_id=case.resident_id,
                    note=f"渠道：{CHANNEL_LABELS.get(case.channel, case.channel)}"
                    + ("；匿名反映" if case.anonymous else ""),
                    data={"anonymous": True} if case.anonymous else None)
    opened.from_state = None
    found = routing.route(uow, place, report.lat, report.lon, case.category,
                          address=report.address)
    case.grid_id = found.grid.id if found.grid else None
    record(session, case, "route", now, actor_type=ActorType.system,
           note=found.grid.name if found.grid else "未匹配网格",
           data={"matched_by": found.matched_by,
                 "grid_code": found.grid.code if found.grid else None,
                 "informed": [m.id for m in found.informed]})
    if found.assignee is None:
        return  # nobody registered anywhere: stays 受理, visible in the console
    case.assignee_id, case.level = found.assignee.id, found.level
    record(session, case, "assign", now, actor_type=ActorType.system,
           note=found.assignee.public_name, to_state=CaseState.assigned,
           data={"staff_id": found.assignee.id, "level": str(found.level)})
    summary = notify.case_summary(case)
    notify.tell_staff(uow, found.assignee, "case_assigned", f"您有新派单：{summary}", case, now)
    for member in found.informed:
        notify.tell_staff(uow, member, "case_inform",
                          f"知会：{summary}（承办人：{found.assignee.public_name}）", case, now)
