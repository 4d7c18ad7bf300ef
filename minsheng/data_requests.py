"""A resident's requests under PIPL: see everything we hold about them, or have it erased.

``minsheng privacy export --resident R [--out FILE]`` (their dialogue with the bot included,
read from Rasa's tracker store) and
``minsheng privacy erase --resident R`` where R is a resident id, ``<channel>:<id>`` (e.g.
``telegram:123456``) or ``phone:<number>``. Erasing keeps each case and its timeline of
states, so that 受理, 办结 and 满意度 stay true, but removes what identifies or describes the
person: their identities, phone, the case text and exact place, photos, comments, their own
notes, messages in the NLU log, the inbound store and the outbox — and their dialogue in
Rasa's tracker store. Both are audited.

The tracker store is a separate database, found from Rasa's endpoints file
(``MINSHENG_RASA_ENDPOINTS``, default endpoints.yml; ``--endpoints`` overrides). Its rows
go first, committed at once: were they left, the NLU log's catch-up (nlu/message_log.py, at
each Rasa start) would log the last day's typed messages again, and once the identities are
gone nothing here would know the resident's senders any more. A tracker store that is not
SQL (or whose file is missing) is named in the output with the senders to remove by hand.
A running Rasa's cache (nlu/tracker_store.py) serves no erased conversation: it checks the
newest event id, which is then gone, and reads the database again. Not covered: a turn of
the resident's in flight at that moment saves its tracker, old events included in memory,
until that Rasa restarts — erase when they are not writing.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError

from minsheng import audit, rasa_trackers
from minsheng.clock import utcnow
from minsheng.db import Database
from minsheng.enums import ActorType, Channel
from minsheng.errors import NotFound
from minsheng.models import (
    Case,
    CaseEvent,
    CaseFollower,
    CaseRating,
    InboundMessage,
    NluMessage,
    OfferedButton,
    OutboxMessage,
    Resident,
    ResidentIdentity,
)
from minsheng.privacy import PURGED
from minsheng.settings import load_settings

ERASED = "（应居民要求已删除）"


def find_resident(uow, who: str) -> Resident:
    """The resident named by an id, ``channel:external_id`` or ``phone:number``."""
    session = uow.session
    kind, _, value = who.partition(":")
    resident = None
    if who.isdigit():
        resident = session.get(Resident, int(who))
    elif kind == "phone":
        resident = session.execute(select(Resident).where(Resident.phone == value)
                                   .order_by(Resident.id)).scalars().first()
    elif kind in {c.value for c in Channel}:
        resident = session.execute(select(Resident).join(ResidentIdentity).where(
            ResidentIdentity.channel == Channel(kind),
            ResidentIdentity.external_id == value)).scalar_one_or_none()
    if resident is None:
        raise NotFound(f"找不到居民 {who}")
    return resident


def _senders(uow, resident: Resident) -> list[str]:
    return [f"{Channel(i.channel)}:{i.external_id}" for i in uow.session.execute(select(ResidentIdentity).where(
                ResidentIdentity.resident_id == resident.id)).scalars()]


def _their_cases(uow, resident: Resident) -> list[Case]:
    return list(uow.session.execute(select(Case).where(Case.resident_id == resident.id)
                                    .order_by(Case.id)).scalars())


def export(uow, resident: Resident, endpoints: Path | None = None) -> dict:
    """Everything held about ``resident``, as plain JSON-ready data; their dialogue from the
    tracker store of Rasa's ``endpoints`` file (or why it could not be read)."""
    session, senders = uow.session, _senders(uow, resident)
    url, why = _tracker_store(endpoints)
    cases = _their_cases(uow, resident)
    followed = list(session.execute(select(Case.case_no).join(
        CaseFollower, CaseFollower.case_id == Case.id).where(
        CaseFollower.resident_id == resident.id)).scalars())
    return {
        "resident": {"id": resident.id, "display_name": resident.display_name,
                     "phone": resident.phone, "created_at": _iso(resident.created_at)},
        "identities": senders,
        "cases": [_case(session, case) for case in cases],
        "following": followed,
        "messages_read_by_the_classifier": [
            {"at": _iso(m.at), "text": m.text, "label": m.corrected_label or m.predicted_label}
            for m in session.execute(select(NluMessage).where(NluMessage.sender.in_(senders))
                                     .order_by(NluMessage.id)).scalars()],
        "messages_sent_to_them": [
            {"at": _iso(m.created_at), "channel": str(m.channel), "text": m.text}
            for m in session.execute(select(OutboxMessage).where(
                OutboxMessage.recipient == f"resident:{resident.id}")
                .order_by(OutboxMessage.id)).scalars()],
        "dialogue_with_the_bot": rasa_trackers.dialogue(url, senders) if url is not None
        else {"not_read": why},
    }


def _case(session, case: Case) -> dict:
    rating = case.rating
    return {
        "case_no": case.case_no, "category": str(case.category), "state": str(case.state),
        "description": case.description, "address": case.address, "xiaoqu": case.xiaoqu,
        "building": case.building, "unit": case.unit, "room": case.room,
        "lat": case.lat, "lon": case.lon, "phone": case.phone,
        "accepted_at": _iso(case.accepted_at), "resolved_at": _iso(case.resolved_at),
        "photos": [p.path for p in case.photos],
        "rating": None if rating is None else {"value": str(rating.value),
                                               "comment": rating.comment},
        "timeline": [{"at": _iso(e.at), "action": e.action, "note": e.note}
                     for e in case.events],
    }


def erase(uow, resident: Resident, photos_dir: Path | None = None,
          endpoints: Path | None = None) -> dict:
    """Remove the person, keep the statistics; returns what was done. Caller commits the
    case database; the tracker store of Rasa's ``endpoints`` file is committed here, first."""
    session, senders = uow.session, _senders(uow, resident)
    tracker_events, tracker_store = _erase_dialogue(senders, endpoints)
    cases = _their_cases(uow, resident)
    case_ids = [c.id for c in cases]
    removed_files = 0
    for case in cases:
        case.description, case.phone, case.address = ERASED, None, None
        case.unit, case.room, case.lat, case.lon = None, None, None, None
        for photo in list(case.photos):
            removed_files += _remove_file(photo.path, photos_dir)
            session.delete(photo)
    if case_ids:
        session.execute(update(CaseRating).where(CaseRating.case_id.in_(case_ids))
                        .values(comment=None))
        session.execute(update(CaseEvent).where(
            CaseEvent.case_id.in_(case_ids), CaseEvent.actor_type == ActorType.resident)
            .values(note=None, data=None))
    session.execute(delete(CaseFollower).where(CaseFollower.resident_id == resident.id))
    session.execute(delete(OfferedButton).where(OfferedButton.resident_id == resident.id))
    nlu = session.execute(delete(NluMessage).where(NluMessage.sender.in_(senders))).rowcount
    session.execute(update(InboundMessage).where(InboundMessage.sender.in_(senders))
                    .values(payload=PURGED, sender=None))
    session.execute(update(OutboxMessage).where(
        OutboxMessage.recipient == f"resident:{resident.id}")
        .values(text=ERASED, payload={}, failed_at=utcnow(),
                last_error="erased at the resident's request"))
    session.execute(delete(ResidentIdentity).where(
        ResidentIdentity.resident_id == resident.id))
    resident.display_name, resident.phone = None, None
    session.flush()
    return {"cases": len(cases), "photos": removed_files, "nlu_messages": nlu,
            "identities": len(senders), "tracker_events": tracker_events,
            "tracker_store": tracker_store}


def _tracker_store(endpoints: Path | None):
    """(URL of Rasa's tracker store, where) — or (None, why there is none to use)."""
    if endpoints is None:
        return None, "未指定 endpoints 文件 / no endpoints file given"
    try:
        url = rasa_trackers.tracker_store_url(endpoints)
    except rasa_trackers.NotErasable as why:
        return None, str(why)
    return url, url.render_as_string(hide_password=True)


def _erase_dialogue(senders: list[str], endpoints: Path | None) -> tuple[int | None, str]:
    """(events removed, where) — or (None, why not). A database that fails raises: the
    case database is then not erased either, and the command can simply be run again."""
    url, where = _tracker_store(endpoints)
    if url is None:
        return None, where
    return rasa_trackers.erase_senders(url, senders), where


def _remove_file(path: str, photos_dir: Path | None) -> int:
    file = Path(path)
    if photos_dir is not None and Path(photos_dir).resolve() not in file.resolve().parents:
        return 0  # never delete outside the photo store
    try:
        file.unlink()
        return 1
    except FileNotFoundError:
        return 0


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="minsheng privacy",
                                     description="居民个人信息：导出或删除 / a resident's data")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("export", "导出该居民的全部信息（JSON）/ export as JSON"),
                       ("erase", "删除该居民的个人信息，保留统计 / erase, keep statistics")):
        command = sub.add_parser(name, help=text)
        command.add_argument("--resident", required=True,
                             help="居民编号、渠道:账号（telegram:123）或 phone:手机号")
        if name == "export":
            command.add_argument("--out", help="写入文件（默认输出到屏幕）")
        command.add_argument("--endpoints", type=Path,
                             help="Rasa 的 endpoints 文件，对话记录所在（默认 "
                                  "MINSHENG_RASA_ENDPOINTS，即 endpoints.yml）")
    args = parser.parse_args(argv)
    settings = load_settings()
    database = Database(settings.database_url)
    try:
        with database.uow() as uow:
            resident, detail = find_resident(uow, args.resident), None
            if args.command == "export":
                text = json.dumps(export(uow, resident,
                                         args.endpoints or settings.rasa_endpoints),
                                  ensure_ascii=False, indent=2)
                if args.out:
                    Path(args.out).write_text(text, encoding="utf-8")
                else:
                    print(text)
            else:
                senders = _senders(uow, resident)
                done = erase(uow, resident, settings.photos_dir,
                             args.endpoints or settings.rasa_endpoints)
                print(f"已删除居民 {resident.id} 的个人信息：工单 {done['cases']} 件（统计保留），"
                      f"照片 {done['photos']} 张，消息 {done['nlu_messages']} 条，"
                      f"账号 {done['identities']} 个。")
                if done["tracker_events"] is None:
                    print(f"注意：Rasa 对话记录未删除（{done['tracker_store']}）。请手工删除这些"
                          f"会话的记录 / dialogue NOT erased, remove by hand: {', '.join(senders)}")
                else:
                    print(f"Rasa 对话记录 {done['tracker_events']} 条（{done['tracker_store']}）。")
                detail = json.dumps(done, ensure_ascii=False)  # the counts, and where
            audit.record(uow, f"privacy_{args.command}", actor="cli",
                         target=f"resident:{resident.id}", detail=detail)
            uow.commit()
    except NotFound as error:
        print(f"错误：{error}", file=sys.stderr)
        return 1
    except SQLAlchemyError as error:  # nothing committed in the case database: run it again
        print(f"错误：数据库出错，未作更改 / a database failed, nothing changed: {error}",
              file=sys.stderr)
        return 1
    finally:
        database.dispose()
    return 0
