"""The dataclasses other packages (actions, bot, web) pass in and get back."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from minsheng.enums import Category, Channel, Handling
from minsheng.places import Place


@dataclass(frozen=True)
class ResidentRef:
    """A resident as a channel knows them: ('telegram', '123456789')."""

    channel: Channel
    external_id: str
    display_name: str | None = None


@dataclass
class NewCase:
    channel: Channel
    idempotency_key: str | None
    description: str
    category: Category
    place: Place | None = None
    address: str | None = None
    lat: float | None = None
    lon: float | None = None
    phone: str | None = None
    resident: ResidentRef | None = None
    urgent: bool = False
    photos: list[str] = field(default_factory=list)
    handling: Handling | None = None
    anonymous: bool = False  # 匿名反映: only for enums.ANONYMOUS_CATEGORIES


@dataclass(frozen=True)
class OpenResult:
    case_no: str
    created: bool
    merged_into: str | None
    grid_name: str | None
    assignee_name: str | None
    assignee_phone: str | None
    resolve_deadline: datetime | None
    ack_deadline: datetime | None
    category: Category
    public_grid_name: str | None = None  # what residents read: a micro-grid shows as its grid


@dataclass(frozen=True)
class EventView:
    at: datetime
    actor_type: str
    actor_id: int | None
    actor_name: str | None
    action: str
    action_label: str
    from_state: str | None
    to_state: str | None
    note: str | None
    detail: str | None = None  # e.g. 办结's handling method and departments


@dataclass(frozen=True)
class PhotoView:
    id: int
    path: str
    added_by: str
    added_at: datetime


@dataclass(frozen=True)
class RatingView:
    value: str
    label: str
    route: str
    comment: str | None
    at: datetime


@dataclass(frozen=True)
class CaseView:
    """Everything a page or a message needs about one case; the phone is masked, and for
    an anonymous case the phone and the resident are left out altogether."""

    case_no: str
    category: Category
    category_label: str
    state: str
    state_label: str
    description: str
    xiaoqu: str | None
    building: str | None
    unit: str | None
    room: str | None
    address: str | None
    lat: float | None
    lon: float | None
    channel: str
    urgent: bool
    handling: str | None
    level: str
    grid_code: str | None
    grid_name: str | None
    assignee_id: int | None
    assignee_name: str | None
    assignee_phone: str | None
    phone: str | None
    resident_id: int | None
    merged_into: str | None
    accepted_at: datetime
    ack_deadline: datetime | None
    resolve_deadline: datetime | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    resolved_on_time: bool | None
    closed_at: datetime | None
    overdue: bool
    followers: int
    photos: list[PhotoView]
    events: list[EventView]
    rating: RatingView | None
    pending_extension: str | None = None  # "3天：等待物业" while a 延期 request waits
    cohandlers: tuple = ()  # 加签: grid names and staff public names
    anonymous: bool = False  # 匿名反映: phone and resident_id are None

    @property
    def last_event(self) -> str | None:
        """The newest event as one line for a resident ("进展：已联系物业")."""
        if not self.events:
            return None
        event = self.events[-1]
        return f"{event.action_label}：{event.note}" if event.note else event.action_label


@dataclass(frozen=True)
class Contact:
    """Who a resident can call: the grid worker's public name and duty phone (公示牌)."""

    name: str
    phone: str | None
    grid_name: str | None
