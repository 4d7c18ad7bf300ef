"""The resident's full phone number, for the one person who must call back.

Everywhere else the phone is masked (minsheng.privacy.mask_phone). The case's current
handler sees it in full once they have acknowledged (签收) the case, and every such view
is an event in the case's timeline — who looked, when. An anonymous case (匿名反映) shows
its phone to no one.
"""
from __future__ import annotations

from datetime import datetime

from minsheng.enums import ActorType, CaseState
from minsheng.errors import NotAllowed, NotFound

from .common import load_case, record

ANONYMOUS = "这是匿名反映的工单，居民的姓名和电话不向工作人员显示。"
# Acknowledged and still theirs: from 签收 until the resident has rated.
REVEALED_IN = {CaseState.acknowledged, CaseState.in_progress, CaseState.resolved}


def reveal_phone(uow, case_no: str, staff_id: int, now: datetime) -> str:
    """The full phone for the case's handler (after 签收), recorded; caller commits."""
    case = load_case(uow.session, case_no, lock=False)
    if case.anonymous:
        raise NotAllowed(ANONYMOUS)
    if case.assignee_id != staff_id:
        raise NotAllowed("只有当前承办人可以查看居民的完整电话。")
    if CaseState(case.state) not in REVEALED_IN:
        raise NotAllowed("签收工单后才能查看居民的完整电话。")
    if not case.phone:
        raise NotFound("居民没有留电话。")
    record(uow.session, case, "phone_viewed", now, actor_type=ActorType.staff,
           actor_id=staff_id, note="查看了居民完整电话")
    return case.phone
