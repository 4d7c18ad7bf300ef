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
from minsheng.services import handling

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

    @property
    def states(self) -> frozenset:
        """The states the lifecycle accepts this action in (offered exactly there)."""
        return TRANSITIONS[self.key].sources

    def offered_in(self, state: CaseState | str) -> bool:
        return CaseState(state) in self.states

    @property
    def takes_note(self) -> bool:
        return bool(self.note_label)


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


def _return(uow, r: Request) -> bool:
    return handling.return_case(uow, r.case_no, r.staff_id, r.note)


def _reassign(uow, r: Request) -> bool:
    if r.to_staff_id is None:
        raise InvalidInput("请选择改派给哪位工作人员。")
    return handling.reassign(uow, r.case_no, r.to_staff_id, by_staff_id=r.staff_id,
                             note=r.note or None)


STAFF_ACTIONS: dict[str, StaffAction] = {a.key: a for a in (
    StaffAction("acknowledge", "签收", _acknowledge),
    StaffAction("progress", "进展", _progress, note_label="进展说明", note_required=True,
                photos=True),
    StaffAction("resolve", "办结", _resolve, note_label="办结说明", note_required=True,
                photos=True),
    StaffAction("escalate", "上报", _escalate, note_label="上报说明",
                default_note="网格员上报"),
    StaffAction("return", "退回", _return, note_label="退回原因", note_required=True),
    StaffAction("reassign", "改派", _reassign, note_label="改派说明", office_only=True,
                needs_target=True, channels=frozenset({CONSOLE, API})),
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
    return [a for a in STAFF_ACTIONS.values()
            if channel in a.channels and a.offered_in(state) and (office or not a.office_only)]


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
    photos = tuple(p for p in request.photos if p) if action.photos else ()
    return action.perform(uow, replace(request, note=note, photos=photos))
