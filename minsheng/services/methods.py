"""The six handling methods (the "6" of 7621), chosen by staff at 办结, and the departments
that 街道吹哨 calls in and 转办 hands a case to.

``Case.handling`` is the one place of truth: escalation sets a provisional method from the
level reached; 办结 records the method the handler chose (and, for 街道吹哨 and 转办, the
departments, in ``case_handling_departments``). ``counts_by_method`` is what reports read.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from minsheng.enums import HANDLING_LABELS, CaseState, Handling
from minsheng.errors import InvalidInput
from minsheng.models import Case, Department

LABELS = HANDLING_LABELS  # one set of names, in minsheng.enums
NEEDS_DEPARTMENTS = frozenset({Handling.street_whistle, Handling.referral})
DONE = (CaseState.resolved, CaseState.closed)


def parse(code: str | Handling | None) -> Handling | None:
    """The method of ``code`` (None when none was given); InvalidInput in Chinese if unknown."""
    if code is None or code == "":
        return None
    try:
        return Handling(str(code).strip())
    except ValueError:
        choices = "、".join(f"{label}（{m.value}）" for m, label in LABELS.items())
        raise InvalidInput(f"没有「{code}」这种处理方式，可选：{choices}。") from None


def departments_for(session: Session, method: Handling,
                    department_ids: Iterable[int]) -> list[Department]:
    """The active departments named for ``method``: required for 街道吹哨 and 转办, refused
    for the other methods."""
    ids = sorted({int(i) for i in department_ids})
    label = LABELS[method]
    if method not in NEEDS_DEPARTMENTS:
        if ids:
            raise InvalidInput(f"「{label}」不需要选择部门；只有街道吹哨和转办要写明部门。")
        return []
    if not ids:
        raise InvalidInput(f"「{label}」须选择{'报到' if method == Handling.street_whistle else '承接'}"
                           "的职能部门。")
    found = list(session.execute(select(Department).where(
        Department.id.in_(ids), Department.active.is_(True)).order_by(Department.id)).scalars())
    if len(found) != len(ids):
        raise InvalidInput("所选部门不存在或已停用，请重新选择。")
    return found


def active_departments(session: Session) -> list[Department]:
    return list(session.execute(select(Department).where(Department.active.is_(True))
                                .order_by(Department.name)).scalars())


def counts_by_method(session: Session, start: datetime | None = None,
                     end: datetime | None = None) -> dict[str, int]:
    """Resolved-or-closed cases accepted in [start, end) per handling method code (every
    code present, 0 when none); cases resolved before methods were chosen count under the
    method their level gave them."""
    query = select(Case.handling, func.count()).where(Case.state.in_(DONE))
    if start is not None:
        query = query.where(Case.accepted_at >= start)
    if end is not None:
        query = query.where(Case.accepted_at < end)
    counts = {m.value: 0 for m in Handling}
    for method, n in session.execute(query.group_by(Case.handling)):
        if method is not None:
            counts[Handling(method).value] += n
    return counts
