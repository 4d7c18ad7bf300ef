"""The fixed vocabularies of DESIGN.md (glossary). Values are the stored codes."""
from __future__ import annotations

import enum


class StrEnum(str, enum.Enum):
    def __str__(self) -> str:
        return self.value


class Category(StrEnum):
    safety_hazard = "safety_hazard"
    sanitation = "sanitation"
    illegal_construction = "illegal_construction"
    dispute = "dispute"
    livelihood = "livelihood"
    clutter = "clutter"
    public_order = "public_order"

    @property
    def label(self) -> str:
        return CATEGORY_LABELS[self]


CATEGORY_LABELS = {
    Category.safety_hazard: "安全隐患",
    Category.sanitation: "环境卫生",
    Category.illegal_construction: "私搭乱建",
    Category.dispute: "矛盾纠纷",
    Category.livelihood: "民生诉求",
    Category.clutter: "乱堆乱放",
    Category.public_order: "治安稳定",
}


class GridLevel(StrEnum):
    district = "district"
    street = "street"
    community = "community"
    grid = "grid"
    micro_grid = "micro_grid"


class StaffRole(StrEnum):
    grid_worker = "grid_worker"  # 网格员
    grid_leader = "grid_leader"  # 网格长
    community = "community"  # 社区工作人员
    street = "street"  # 街道
    department = "department"  # 职能部门 (referral)
    police_liaison = "police_liaison"  # 社区民警
    enforcement = "enforcement"  # 综合执法
    admin = "admin"


class Channel(StrEnum):
    telegram = "telegram"
    web = "web"
    hotline = "hotline"
    mailbox = "mailbox"
    service_station = "service_station"
    patrol = "patrol"
    visit = "visit"
    wechat = "wechat"  # 微信公众号 (an online channel like telegram and web)


def split_sender(sender_id: str) -> tuple[Channel, str]:
    """'telegram:123456789' → (Channel.telegram, '123456789'); bare ids are web chats.

    Here rather than in actions/common.py: the Rasa process (nlu/message_log.py) needs it
    too, without the action server's packages."""
    channel, sep, external = (sender_id or "").partition(":")
    if sep and channel in Channel.__members__:
        return Channel(channel), external
    return Channel.web, sender_id


# The channels a resident is reached on (a bot conversation); the others are offline:
# hotline or visit reporters are called back by staff (the offline feedback route).
ONLINE_CHANNELS = (Channel.telegram, Channel.web, Channel.wechat)

# The categories a resident may report anonymously (staff see no name, phone or sender).
ANONYMOUS_CATEGORIES = frozenset({Category.public_order, Category.dispute})


CHANNEL_LABELS = {
    Channel.telegram: "Telegram",
    Channel.web: "网页",
    Channel.hotline: "热线电话",
    Channel.mailbox: "意见箱",
    Channel.service_station: "服务站",
    Channel.patrol: "网格巡查",
    Channel.visit: "走访",
    Channel.wechat: "微信公众号",
}


class Handling(StrEnum):
    on_the_spot = "on_the_spot"  # 即时办理
    grid = "grid"  # 网格处置
    community = "community"  # 社区协调
    street_whistle = "street_whistle"  # 街道吹哨·部门报到
    joint_meeting = "joint_meeting"  # 联席会议
    referral = "referral"  # 转办职能部门


HANDLING_LABELS = {
    Handling.on_the_spot: "即时办理",
    Handling.grid: "网格处置",
    Handling.community: "社区协调",
    Handling.street_whistle: "街道吹哨",
    Handling.joint_meeting: "联席会议",
    Handling.referral: "转办",
}


class FeedbackRoute(StrEnum):
    online = "online"
    offline = "offline"


class Rating(StrEnum):
    satisfied = "satisfied"
    basically_satisfied = "basically_satisfied"
    dissatisfied = "dissatisfied"


RATING_LABELS = {
    Rating.satisfied: "满意",
    Rating.basically_satisfied: "基本满意",
    Rating.dissatisfied: "不满意",
}


class CaseState(StrEnum):
    new = "new"  # 受理
    assigned = "assigned"  # 派单
    acknowledged = "acknowledged"  # 签收
    in_progress = "in_progress"  # 处置
    resolved = "resolved"  # 办结
    closed = "closed"  # 回访评价完成
    reopened = "reopened"
    withdrawn = "withdrawn"
    merged = "merged"


STATE_LABELS = {
    CaseState.new: "已受理",
    CaseState.assigned: "已派单",
    CaseState.acknowledged: "已签收",
    CaseState.in_progress: "处置中",
    CaseState.resolved: "已办结",
    CaseState.closed: "已关闭",
    CaseState.reopened: "已重新派单",
    CaseState.withdrawn: "已撤回",
    CaseState.merged: "已合并",
}

OPEN_STATES = frozenset(
    {CaseState.new, CaseState.assigned, CaseState.acknowledged, CaseState.in_progress,
     CaseState.reopened}
)


class EscalationLevel(StrEnum):
    """The ladder: 小事不出社区，大事不出街道."""

    grid = "grid"  # micro-grid / grid worker
    grid_leader = "grid_leader"
    community = "community"
    street = "street"  # 吹哨, departments report
    referral = "referral"


LADDER = [
    EscalationLevel.grid,
    EscalationLevel.grid_leader,
    EscalationLevel.community,
    EscalationLevel.street,
    EscalationLevel.referral,
]


class ActorType(StrEnum):
    resident = "resident"
    staff = "staff"
    system = "system"
