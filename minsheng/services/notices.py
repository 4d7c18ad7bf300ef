"""What residents are told when their case moves: short, natural, one place for the words.

Each notice is queued through the outbox in the caller's unit of work (the same commit as
the change it reports), with a dedupe key made from the event that caused it: a repeated
button press records no event and so queues nothing, and a replayed call finds the key.
Residents without an online identity (hotline, visit …) get nothing here; staff call them
back (the offline feedback route). Only public names are used: the grid as residents know
it (a micro-grid is shown as its grid), the handler's public name and duty phone.
"""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy.orm import Session

from minsheng.clock import DEFAULT_TIMEZONE, format_local
from minsheng.enums import RATING_LABELS, Rating
from minsheng.models import Case, CaseEvent, Staff

from . import notify
from .common import public_grid_name

RATING_INTENT = "rate_{}"  # the conversation's intents rate_satisfied, … (see domain.yml)
MAX_SUBJECT = 20
MAX_NOTE = 300


def rating_buttons(case_no: str) -> list[dict[str, str]]:
    """满意 / 基本满意 / 不满意, each carrying the case number it rates."""
    entities = json.dumps({"case_no": case_no}, ensure_ascii=False)
    return [{"title": RATING_LABELS[r], "payload": f"/{RATING_INTENT.format(r.value)}{entities}"}
            for r in Rating]


def handler(session: Session, staff: Staff | None) -> str:
    """'幸福社区第一网格的王网格（值班电话 0311-8000001）' — the 公示牌, nothing private."""
    if staff is None:
        return "社区值班人员"
    grid = public_grid_name(session, staff.grid_id)
    phone = f"（值班电话 {staff.duty_phone}）" if staff.duty_phone else ""
    return f"{grid}的{staff.public_name}{phone}" if grid else f"{staff.public_name}{phone}"


def subject(case: Case) -> str:
    text = " ".join((case.description or "").split())
    short = text if len(text) <= MAX_SUBJECT else text[:MAX_SUBJECT] + "…"
    return f"您反映的「{short}」（工单 {case.case_no}）"


def deadline(case: Case, tz: str) -> str:
    if case.resolve_deadline is None:
        return "会尽快办结"
    return f"预计{format_local(case.resolve_deadline, tz, 'resident')}前办结"


def _note(note: str | None) -> str:
    note = (note or "").strip()
    return note if len(note) <= MAX_NOTE else note[:MAX_NOTE] + "…"


def _photos(paths) -> list[str]:
    return [p for p in paths or [] if p]


def _tell(uow, case: Case, event: CaseEvent, kind: str, text: str, now: datetime,
          payload: dict | None = None) -> int:
    uow.session.flush()  # the event's id makes the dedupe key
    return notify.tell_residents(uow, case, kind, text, now, payload=payload,
                                 dedupe_prefix=f"{kind}:{case.case_no}:{event.id}")


def acknowledged(uow, case: Case, event: CaseEvent, now: datetime,
                 tz: str = DEFAULT_TIMEZONE) -> int:
    """签收: who handles it now, and by when."""
    owner = uow.session.get(Staff, case.assignee_id) if case.assignee_id else None
    text = f"{subject(case)}已由{handler(uow.session, owner)}签收，{deadline(case, tz)}。"
    return _tell(uow, case, event, "notice_acknowledged", text, now)


def progress(uow, case: Case, event: CaseEvent, note: str | None, photos, now: datetime) -> int:
    """进展: the note, and how many photos came with it."""
    photos = _photos(photos)
    text = f"{subject(case)}有新进展：{_note(note) or '处理人员上传了现场照片'}"
    if photos:
        text += f"（附照片 {len(photos)} 张）"
    return _tell(uow, case, event, "notice_progress", text, now, {"photos": photos})


MOVES = {
    "escalate": ("notice_escalated", "已上报上一级"),
    "overdue": ("notice_escalated", "已提级督办"),
    "reassign": ("notice_reassigned", "已改派"),
}


def moved(uow, case: Case, event: CaseEvent, how: str, now: datetime,
          tz: str = DEFAULT_TIMEZONE) -> int:
    """上报 / 超时督办 / 改派: the new owner with duty phone, and the same deadline."""
    kind, verb = MOVES[how]
    owner = uow.session.get(Staff, case.assignee_id) if case.assignee_id else None
    text = (f"{subject(case)}{verb}，现由{handler(uow.session, owner)}负责，"
            f"{deadline(case, tz)}。")
    return _tell(uow, case, event, kind, text, now)


# 退单 reason codes residents are told in their own words (others: not this grid's matter)
WHY_RETURNED = {"not_our_duty": "经核实不属于原网格的职责范围", "incomplete": "需要进一步核实情况",
                "duplicate": "与已反映的问题重复"}


def returned(uow, case: Case, event: CaseEvent, desk: Staff, now: datetime) -> int:
    """退回: not the first grid's matter; the community desk sends it to the right one."""
    why = WHY_RETURNED.get((event.data or {}).get("reason_code"), "经核实不归原网格管")
    text = (f"{subject(case)}{why}，已转给{handler(uow.session, desk)}"
            "重新分派，分派后会再告诉您。")
    return _tell(uow, case, event, "notice_returned", text, now)


def extended(uow, case: Case, event: CaseEvent, now: datetime,
             tz: str = DEFAULT_TIMEZONE) -> int:
    """延期 approved: the new deadline (the staff's reason stays internal)."""
    text = f"{subject(case)}办理时间有所延长，现{deadline(case, tz)}，感谢您的耐心。"
    return _tell(uow, case, event, "notice_extended", text, now)


def resolved(uow, case: Case, event: CaseEvent, note: str | None, photos,
             now: datetime) -> int:
    """办结: what was done, the photos, and the rating buttons for this very case."""
    photos = _photos(photos)
    lines = [f"{subject(case)}已办结。", f"处理结果：{_note(note) or '已处理完毕'}"]
    if photos:
        lines.append(f"附现场照片 {len(photos)} 张。")
    lines.append("对处理结果满意吗？请点下面的按钮评价。")
    payload = {"rating": True, "buttons": rating_buttons(case.case_no), "photos": photos}
    return _tell(uow, case, event, "rating_request", "\n".join(lines), now, payload)


def merged(uow, duplicate: Case, into: Case, event: CaseEvent, now: datetime) -> int:
    text = (f"{subject(duplicate)}和工单 {into.case_no} 说的是同一件事，已合并办理，"
            f"后续进展会按工单 {into.case_no} 告诉您。")
    return _tell(uow, duplicate, event, "case_merged", text, now, {"into": into.case_no})


def rating_reminder(uow, case: Case, event: CaseEvent, now: datetime) -> int:
    """One reminder, with the buttons, some days after 办结."""
    text = f"{subject(case)}已经办结几天了，还没收到您的评价，方便时点一下："
    return _tell(uow, case, event, "rating_reminder", text, now,
                 {"rating": True, "buttons": rating_buttons(case.case_no)})
