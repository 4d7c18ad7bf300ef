"""A notice as a WeChat template message (模板消息): how it reaches a resident outside the
48-hour customer-service window.

The template is the one registered in the Official Account: its id
(``MINSHENG_WECHAT_TEMPLATE_ID``) and its field names (``MINSHENG_WECHAT_TEMPLATE_FIELDS``,
by what each carries: first, case_no 工单号, state 状态, time 时间, remark) are settings;
the values are made here and nowhere else, each cut to what its field may carry: the
``:N`` after its name in the mapping, else WeChat's limit for the field's type (newer
templates name fields by type: ``thing4`` carries 20 characters), else ``CLASSIC_LIMIT``.
"""
from __future__ import annotations

from datetime import datetime

from minsheng.clock import format_local
from minsheng.enums import STATE_LABELS, CaseState

TITLE = "民生说事 · 工单进展通知"
# Classic templates (first, keywordN, remark) take long values; WeChat cuts them anyway and
# the whole notice is in the chat.
CLASSIC_LIMIT = 200
# Newer templates' field types and the characters each takes (WeChat's 模板消息 rules);
# a longer value is refused (errcode 47003), so it is cut here.
TYPE_LIMITS = {"thing": 20, "character_string": 32, "number": 32, "letter": 32,
               "symbol": 5, "phrase": 5, "car_number": 8, "phone_number": 17, "name": 10}
ELLIPSIS = "…"
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
    """The template's ``data``: each configured field with what it carries, cut to fit."""
    values = {
        "first": TITLE,
        "case_no": case_no or "—",
        "state": STATES.get(kind, OTHER_STATE),
        "time": format_local(when, timezone_name, "full"),
        "remark": text,
    }
    out = {}
    for meaning, spec in fields.items():
        name, limit = field_name_and_limit(spec)
        out[name] = {"value": cut(values[meaning], limit)}
    return out


def field_name_and_limit(spec: str) -> tuple[str, int]:
    """``thing4:20`` → (thing4, 20); ``thing4`` → (thing4, its type's limit)."""
    name, _, limit = spec.partition(":")
    if limit:
        return name, int(limit)
    kind = name.rstrip("0123456789")
    return name, TYPE_LIMITS.get(kind, CLASSIC_LIMIT)


def cut(value: str, limit: int) -> str:
    """At most ``limit`` characters; a cut value ends in "…" to say so."""
    if len(value) <= limit:
        return value
    return value[:limit - 1] + ELLIPSIS if limit > 1 else value[:limit]
