"""What staff may do with a case — one table every channel reads (Telegram, console, API).

Each row names the action (the same key as its row in ``lifecycle.TRANSITIONS``), its
label, whether a note is required, whether photos may come with it, who may use it, which
channels offer it and the service that performs it. The states in which it is offered are
*derived* from the lifecycle table, never written down a second time, so a button cannot
be offered in a state the lifecycle refuses.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from minsheng.enums import CaseState
from minsheng.errors import InvalidInput
from minsheng.lifecycle import TRANSITIONS
from minsheng.services import cosign, extension, handling, returns, urging

TELEGRAM, CONSOLE, API = "telegram", "console", "api"
ALL_CHANNELS = frozenset({TELEGRAM, CONSOLE, API})


class UnknownAction(InvalidInput):
    """An action key that is not in the table."""


@dataclass(frozen=True)
class Request:
    """One staff action as a channel received it, in plain values."""

    case_no: str
    staff_id: int | None
    note: str = ""
    photos: tuple[str, ...] = ()
    to_staff_id: int | None = None
    handling_method: str | None = None  # 办结: a Handling code
    department_ids: tuple[int, ...] = ()  # 办结 by 街道吹哨 or 转办
    settings: object | None = None  # the running settings (办结's photo rule)
    days: int | str | None = None  # 申请延期
    reason_code: str | None = None  # 退单
    grid_code: str | None = None  # 加签 a grid (or ``to_staff_id`` for a staff member)


# Who an action is for (``StaffAction.who``): the owner or anyone above (the default), the
# owner alone, supervisors alone; ``notes`` also lets co-handlers (加签) use it.
HANDLER, OWNER, SUPERVISOR, NOTES = "handler", "owner", "supervisor", "notes"
WHO_MAY = {HANDLER: {"owner", "supervisor"}, OWNER: {"owner"}, SUPERVISOR: {"supervisor"},
           NOTES: {"owner", "supervisor", "cohandler"}}


@dataclass(frozen=True)
class StaffAction:
    key: str  # = its row in lifecycle.TRANSITIONS
    label: str  # 签收
    perform: Callable[[object, Request], bool]  # (uow, request) → changed?
    note_label: str = ""  # 进展说明; empty: the action takes no note
    note_required: bool = False
    default_note: str | None = None  # used when an optional note is left empty
    photos: bool = False  # photos may come with it
    office_only: bool = False  # community, street and admin logins only (改派)
    needs_target: bool = False  # a staff member to hand the case to
    channels: frozenset = ALL_CHANNELS
    who: str = HANDLER  # see WHO_MAY
    fields: tuple = ()  # extra inputs: "days", "reason_code", "cosign_target"
    choices: tuple = ()  # (code, label) offered before the note (退单 reasons)
    needs_pending_extension: bool = False  # 同意 / 不同意延期

    @property
    def states(self) -> frozenset:
        """The states the lifecycle accepts this action in (offered exactly there)."""
        return TRANSITIONS[self.key].sources

    def offered_in(self, state: CaseState | str) -> bool:
        return CaseState(state) in self.states

    @property
    def takes_note(self) -> bool:
        return bool(self.note_label)

    def for_relation(self, relation: str | None) -> bool:
        return relation in WHO_MAY[self.who]


def _acknowledge(uow, r: Request) -> bool:
    return handling.acknowledge(uow, r.case_no, r.staff_id)


def _progress(uow, r: Request) -> bool:
    return handling.add_progress(uow, r.case_no, r.staff_id, r.note, photos=list(r.photos))


def _resolve(uow, r: Request) -> bool:
    return handling.resolve(uow, r.case_no, r.staff_id, r.note, photos=list(r.photos),
                            handling=r.handling_method, department_ids=r.department_ids,
                            settings=r.settings)


def _escalate(uow, r: Request) -> bool:
    return handling.escalate(uow, r.case_no, r.staff_id, r.note)


def _return_with_code(uow, r: Request) -> bool:
    return handling.return_case(uow, r.case_no, r.staff_id, r.note,
                                reason_code=r.reason_code)


def _urge(uow, r: Request) -> bool:
    return urging.urge(uow, r.case_no, r.staff_id, r.note)


def _request_extension(uow, r: Request) -> bool:
    days, reason = r.days, r.note
    if days in (None, ""):  # Telegram: one reply, "3 等待燃气公司上门"
        days, reason = split_days(r.note)
    return extension.request(uow, r.case_no, r.staff_id, reason, days)


def split_days(text: str) -> tuple[str, str]:
    """'3 等待物业' / '3天，等待物业' → ('3', '等待物业'); the days are checked later."""
    text = (text or "").strip()
    head = text.split(maxsplit=1)[0] if text else ""
    digits = "".join(ch for ch in head[:4] if ch.isdigit())
    if not digits or not head.startswith(digits):
        raise InvalidInput("请按「天数 原因」回复，例如：3 等待燃气公司上门检修。")
    rest = text[len(digits):].lstrip("天日 ，,、：:")
    return digits, rest


def _approve(uow, r: Request) -> bool:
    return extension.decide(uow, r.case_no, r.staff_id, True, r.note)


def _refuse(uow, r: Request) -> bool:
    return extension.decide(uow, r.case_no, r.staff_id, False, r.note)


def _cosign(uow, r: Request) -> bool:
    code, staff_id = r.grid_code, r.to_staff_id
    if not code and staff_id is None and r.note:  # Telegram: a reply with the grid code
        code = r.note.split()[0]
        if code.isdigit() and cosign.grid_by_code(uow.session, code) is None:
            code, staff_id = None, int(code)
    return cosign.add(uow, r.case_no, r.staff_id, code, staff_id)


def _reassign(uow, r: Request) -> bool:
    if r.to_staff_id is None:
        raise InvalidInput("请选择改派给哪位工作人员。")
    return handling.reassign(uow, r.case_no, r.to_staff_id, by_staff_id=r.staff_id,
                             note=r.note or None)


STAFF_ACTIONS: dict[str, StaffAction] = {a.key: a for a in (
    StaffAction("acknowledge", "签收", _acknowledge),
    StaffAction("progress", "进展", _progress, note_label="进展说明", note_required=True,
                photos=True, who=NOTES),
    StaffAction("resolve", "办结", _resolve, note_label="办结说明", note_required=True,
                photos=True),
    StaffAction("escalate", "上报", _escalate, note_label="上报说明",
                default_note="网格员上报"),
    StaffAction("return", "退回", _return_with_code, note_label="退单说明",
                fields=("reason_code",), choices=tuple(returns.RETURN_REASONS.items())),
    StaffAction("reassign", "改派", _reassign, note_label="改派说明", office_only=True,
                needs_target=True, channels=frozenset({CONSOLE, API})),
    StaffAction("urge", "催办", _urge, note_label="催办说明", who=SUPERVISOR),
    StaffAction("request_extension", "申请延期", _request_extension,
                note_label="延期原因", note_required=True, who=OWNER, fields=("days",)),
    StaffAction("approve_extension", "同意延期", _approve, note_label="审批意见",
                who=SUPERVISOR, needs_pending_extension=True),
    StaffAction("refuse_extension", "不同意延期", _refuse, note_label="审批意见",
                who=SUPERVISOR, needs_pending_extension=True),
    StaffAction("cosign", "加签", _cosign, note_label="加签网格编码或工作人员编号",
                fields=("cosign_target",)),
)}


def get(key: str) -> StaffAction:
    """The table row for ``key``; UnknownAction (Chinese message) when there is none."""
    try:
        return STAFF_ACTIONS[key]
    except KeyError:
        raise UnknownAction(f"没有「{key}」这个操作。") from None


def offered(state: CaseState | str, channel: str, *, office: bool = False) -> list[StaffAction]:
    """The actions ``channel`` offers on a case in ``state``, in table order.

    ``office``: whether the person is a community, street or admin login (改派).
    """
    return [a for a in _by_state(state, channel, office) if a.who in (HANDLER, NOTES)]


def _by_state(state, channel: str, office: bool) -> list[StaffAction]:
    return [a for a in STAFF_ACTIONS.values()
            if channel in a.channels and a.offered_in(state) and (office or not a.office_only)]


def offered_to(case, channel: str, relation: str | None, *, office: bool = False,
               pending_extension: bool = False) -> list[StaffAction]:
    """The actions offered to one person: ``relation`` is what they are to the case
    (``access.relation``: owner, supervisor, cohandler or None)."""
    return [a for a in _by_state(case.state, channel, office)
            if (a.office_only or a.for_relation(relation))
            and (pending_extension or not a.needs_pending_extension)]


def perform(uow, key: str, request: Request) -> bool:
    """Check the note rule and run the action's service; True when something changed.

    Runs in the caller's unit of work; the lifecycle and the permission check are the
    service's own (IllegalTransition, NotAllowed), so every channel gets the same answers.
    """
    action = get(key)
    note = (request.note or "").strip()
    if action.note_required and not note:
        raise InvalidInput(f"请填写{action.note_label}。")
    note = note or action.default_note or ""
    if "reason_code" in action.fields:  # 退单: a known reason, a note for 其他 — checked first
        returns.check(request.reason_code, note)
    if "days" in action.fields and request.days not in (None, ""):
        extension.check_days(request.days)
    photos = tuple(p for p in request.photos if p) if action.photos else ()
    return action.perform(uow, replace(request, note=note, photos=photos))
