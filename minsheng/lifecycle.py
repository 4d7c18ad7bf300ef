"""The case state machine of DESIGN.md as one table: action → allowed sources → target.

``already_done`` lists the states in which repeating the action is a harmless no-op
(a second press of 签收 or 办结): the service then changes nothing and records no event.
Everything else not in ``sources`` raises IllegalTransition.
"""
from __future__ import annotations

from dataclasses import dataclass

from minsheng.enums import OPEN_STATES, STATE_LABELS, CaseState
from minsheng.errors import IllegalTransition

S = CaseState


@dataclass(frozen=True)
class Transition:
    sources: frozenset
    target: CaseState | None  # None: the state does not change (a note, added info)
    already_done: frozenset = frozenset()
    label: str = ""


def _t(sources, target, label, already_done=()):
    return Transition(frozenset(sources), target, frozenset(already_done), label)


UNACKNOWLEDGED = frozenset({S.new, S.assigned, S.reopened})

TRANSITIONS: dict[str, Transition] = {
    "route": _t({S.new}, S.new, "派单路由"),
    "assign": _t({S.new}, S.assigned, "派单"),
    "acknowledge": _t({S.assigned, S.reopened}, S.acknowledged, "签收",
                      already_done={S.acknowledged, S.in_progress}),
    "progress": _t({S.acknowledged, S.in_progress}, S.in_progress, "填写进展"),
    "resolve": _t({S.acknowledged, S.in_progress}, S.resolved, "办结",
                  already_done={S.resolved}),
    # escalation hands the case to a new owner, who must acknowledge it again
    "escalate": _t(OPEN_STATES, S.assigned, "上报"),
    "overdue": _t(OPEN_STATES, S.assigned, "超时督办"),
    "return": _t({S.assigned, S.acknowledged, S.reopened}, S.assigned, "退回改派"),
    "reassign": _t(OPEN_STATES, S.assigned, "改派"),
    "withdraw": _t(OPEN_STATES, S.withdrawn, "撤回", already_done={S.withdrawn}),
    "add_info": _t(OPEN_STATES, None, "补充信息"),
    "rate": _t({S.resolved}, S.closed, "评价"),
    "rate_dissatisfied": _t({S.resolved}, S.reopened, "评价"),
    "close": _t({S.resolved}, S.closed, "关闭", already_done={S.closed}),
    "merge": _t(OPEN_STATES, S.merged, "合并", already_done={S.merged}),
    # 催办, 延期 and 加签 keep the state; they are recorded and counted
    "urge": _t(OPEN_STATES, None, "催办"),
    "request_extension": _t({S.acknowledged, S.in_progress}, None, "申请延期"),
    "approve_extension": _t(OPEN_STATES, None, "同意延期"),
    "refuse_extension": _t(OPEN_STATES, None, "不同意延期"),
    "cosign": _t(OPEN_STATES, None, "加签"),
}


def target_state(action: str, state: CaseState, case_no: str = "") -> CaseState | None:
    """The state after ``action``; None when the action was already done (a no-op).

    For actions that keep the state (``add_info``) the current state is returned.
    """
    transition = TRANSITIONS[action]
    state = CaseState(state)
    if state in transition.already_done:
        return None
    if state not in transition.sources:
        raise IllegalTransition(
            f"工单{case_no}当前状态为「{STATE_LABELS[state]}」，不能{transition.label}。"
        )
    return transition.target or state
