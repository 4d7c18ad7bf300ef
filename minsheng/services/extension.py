"""延期: the owner asks for more days with a reason; the next level up approves or refuses.

One pending request per case. The approver is anyone above the owner (``access``: in the
case's part of the tree and ranked higher, or an admin), never the requester; the next
rung of the ladder is told and offered the two buttons. Approval moves the resolve
deadline (and starts a new 催办 plan); both decisions and the new deadline are events in
the timeline, and the requester is told. Days are calendar days added to the current
deadline (or to now, when it has passed).
"""
from __future__ import annotations

from sqlalchemy import select

from minsheng.clock import DEFAULT_TIMEZONE, format_local, utcnow
from minsheng.enums import CaseState
from minsheng.errors import IllegalTransition, InvalidInput, NotAllowed
from minsheng.lifecycle import target_state
from minsheng.models import Case, ExtensionRequest, Staff

from . import limits, notices, notify, urging
from .access import is_supervisor
from .common import load_case, record, staff_actor
from .escalation import next_rung

PENDING, APPROVED, REFUSED = "pending", "approved", "refused"
MAX_DAYS = 30
MAX_TEXT = 500


def pending(session, case: Case) -> ExtensionRequest | None:
    return session.execute(select(ExtensionRequest).where(
        ExtensionRequest.case_id == case.id, ExtensionRequest.state == PENDING)
        .order_by(ExtensionRequest.id.desc()).limit(1)).scalar_one_or_none()


def _latest(session, case: Case) -> ExtensionRequest | None:
    return session.execute(select(ExtensionRequest).where(ExtensionRequest.case_id == case.id)
                           .order_by(ExtensionRequest.id.desc()).limit(1)).scalar_one_or_none()


def check_days(days) -> int:
    try:
        value = int(str(days).strip())
    except (TypeError, ValueError):
        raise InvalidInput(f"请填写延期天数（1–{MAX_DAYS} 的整数）。") from None
    if not 1 <= value <= MAX_DAYS:
        raise InvalidInput(f"延期天数须在 1–{MAX_DAYS} 天之间。")
    return value


def request(uow, case_no: str, staff_id: int, reason: str, days, now=None,
            settings=None) -> bool:
    """申请延期 by the owner; False when the same request is already waiting."""
    session, now = uow.session, now or utcnow()
    reason, days = (reason or "").strip()[:MAX_TEXT], check_days(days)
    if not reason:
        raise InvalidInput("请说明延期原因。")
    case = load_case(session, case_no)
    if case.assignee_id != staff_id:
        raise NotAllowed(f"只有工单 {case.case_no} 的承办人可以申请延期。")
    waiting = pending(session, case)
    if waiting is not None:
        if waiting.requested_by == staff_id and waiting.days == days and waiting.reason == reason:
            return False
        raise IllegalTransition(f"工单 {case.case_no} 已有一个延期申请在等待审批。")
    target_state("request_extension", case.state, case.case_no)
    row = ExtensionRequest(case_id=case.id, requested_by=staff_id, requested_at=now,
                           reason=reason, days=days, old_deadline=case.resolve_deadline,
                           state=PENDING)
    session.add(row)
    session.flush()
    record(session, case, "request_extension", now, note=f"申请延期{days}个工作日：{reason}",
           data={"reason": reason, "days": days, "request_id": row.id},
           **staff_actor(staff_id))
    _tell_approver(uow, case, row, now)
    uow.commit()
    return True


def _tell_approver(uow, case: Case, row: ExtensionRequest, now) -> None:
    found = next_rung(uow.session, case.grid_id, case.level, exclude=case.assignee_id)
    if found is None:
        return
    owner = uow.session.get(Staff, case.assignee_id)
    text = (f"{owner.public_name}申请延期{row.days}个工作日（{row.reason}），请审批："
            f"{notify.case_summary(case)}")
    notify.tell_staff(uow, found[1], "extension_requested", text, case, now,
                      dedupe_key=f"extension:{case.case_no}:{row.id}",
                      relation="approver")


def _decider(session, case: Case, staff_id: int, row: ExtensionRequest | None) -> Staff:
    member = session.get(Staff, staff_id)
    if member is None or not is_supervisor(session, member, case):
        raise NotAllowed(f"只有承办人的上级可以审批工单 {case.case_no} 的延期申请。")
    if row is not None and row.requested_by == staff_id:
        raise NotAllowed("不能审批自己的延期申请。")
    return member


def _nothing_pending(session, case: Case, action: str, staff_id: int) -> bool:
    """False for a repeated press of the decision just made; otherwise raise."""
    last = _latest(session, case)
    done = {"approve_extension": APPROVED, "refuse_extension": REFUSED}[action]
    if last is not None and last.state == done and last.decided_by == staff_id:
        return False
    raise IllegalTransition(f"工单 {case.case_no} 没有待审批的延期申请。")


def decide(uow, case_no: str, staff_id: int, approve: bool, note: str | None = None,
           now=None, settings=None) -> bool:
    """同意延期 / 不同意延期; approval moves the resolve deadline."""
    session, now = uow.session, now or utcnow()
    action = "approve_extension" if approve else "refuse_extension"
    case = load_case(session, case_no)
    row = pending(session, case)
    _decider(session, case, staff_id, row)
    if row is None:
        return _nothing_pending(session, case, action, staff_id)
    target_state(action, case.state, case.case_no)
    note = (note or "").strip()[:MAX_TEXT] or None
    tz = getattr(settings, "timezone", None) or DEFAULT_TIMEZONE
    row.decided_by, row.decided_at, row.decision_note = staff_id, now, note
    if approve:
        base = max(case.resolve_deadline or now, now)
        # days of 延期 are working days, counted on the same calendar as the limits
        row.state = APPROVED
        row.new_deadline = limits.Limit(row.days, "working_days").due(base, tz)
        case.resolve_deadline = row.new_deadline
        if CaseState(case.state) in {CaseState.acknowledged, CaseState.in_progress}:
            urging.plan(case, now)
        text = f"同意延期{row.days}个工作日，新的办结时限 {format_local(row.new_deadline, tz, 'full')}"
        data = {"deadline": row.new_deadline.isoformat(), "days": row.days,
                "request_id": row.id}
    else:
        row.state = REFUSED
        text, data = "不同意延期", {"request_id": row.id}
    event = record(session, case, action, now, note=text + (f"（{note}）" if note else ""),
                   data=data, **staff_actor(staff_id))
    if approve:
        notices.extended(uow, case, event, now, tz)
    notify.tell_staff(uow, session.get(Staff, row.requested_by), "extension_decided",
                      f"您的延期申请：{text}{f'（{note}）' if note else ''}。"
                      f"{notify.case_summary(case)}", case, now)
    uow.commit()
    return True
