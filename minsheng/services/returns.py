"""退单 reason codes: why a case goes back to the dispatcher (the community desk).

``other`` needs a note; the others may carry one. The event ``return`` keeps
``{"reason_code", "note"}`` so that 退单率 can be read by reason.
"""
from __future__ import annotations

from minsheng.errors import InvalidInput

RETURN_REASONS = {
    "not_this_grid": "不属于本网格",
    "not_our_duty": "不属于职责范围",
    "incomplete": "信息不全",
    "duplicate": "重复",
    "other": "其他",
}
OTHER = "other"


def check(code: str | None, note: str | None) -> tuple[str, str | None]:
    """(code, note) for a 退单; a missing code with a note is ``other`` (older callers)."""
    note = (note or "").strip() or None
    code = (code or "").strip() or (OTHER if note else "")
    if code not in RETURN_REASONS:
        choices = "、".join(f"{k}（{v}）" for k, v in RETURN_REASONS.items())
        raise InvalidInput(f"请选择退单原因：{choices}。")
    if code == OTHER and note is None:
        raise InvalidInput("退单原因选「其他」时，请写明具体原因。")
    return code, note


def text(code: str, note: str | None) -> str:
    """'信息不全：缺少楼栋号' — the words of the timeline and the notices."""
    label = RETURN_REASONS[code]
    return f"{label}：{note}" if note and code != OTHER else (note if code == OTHER else label)
