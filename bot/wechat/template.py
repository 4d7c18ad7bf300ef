"""A notice as a WeChat template message (模板消息): how it reaches a resident outside the
48-hour customer-service window.

The template is the one registered in the Official Account: its id
(``MINSHENG_WECHAT_TEMPLATE_ID``) and its field names (``MINSHENG_WECHAT_TEMPLATE_FIELDS``,
by what each carries: first, case_no 工单号, state 状态, time 时间, remark) are settings;
the values are made here and nowhere else.
"""
from __future__ import annotations

from datetime import datetime

from minsheng.clock import format_local
from minsheng.enums import STATE_LABELS, CaseState

TITLE = "民生说事 · 工单进展通知"
REMARK_LIMIT = 200  # WeChat cuts long template values; the whole notice is in the chat
# The case's state as each notice reports it (the outbox row's kind). At most 5 characters:
# newer templates carry a state in a ``phrase`` field, which WeChat limits to 5.
STATES = {
    "notice_acknowledged": STATE_LABELS[CaseState.acknowledged],
    "notice_progress": STATE_LABELS[CaseState.in_progress],
    "notice_escalated": "已上报",
    "notice_reassigned": "已改派",
    "notice_returned": "已退回",
    "notice_extended": "已延期",
    "rating_request": "待评价",
    "rating_reminder": "待评价",
    "case_merged": STATE_LABELS[CaseState.merged],
}
OTHER_STATE = "有新消息"


def data(fields: dict[str, str], kind: str, case_no: str | None, text: str,
         when: datetime, timezone_name: str) -> dict:
    """The template's ``data``: each configured field with what it carries."""
    values = {
        "first": TITLE,
        "case_no": case_no or "—",
        "state": STATES.get(kind, OTHER_STATE),
        "time": format_local(when, timezone_name, "full"),
        "remark": text[:REMARK_LIMIT],
    }
    return {name: {"value": values[meaning]} for meaning, name in fields.items()}
