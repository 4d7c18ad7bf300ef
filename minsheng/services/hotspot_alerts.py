"""A hot spot that reaches ``hotspot_alert_reports`` reports is told to its community, once.

Run by the scheduler (minsheng/scheduler_loop.py) every ``hotspot_scan_minutes``, on the
hot spots of the snapshot it has just taken (services/hotspot_snapshots.py). Whom to
tell: the community staff (role ``community``, 社区) of the community node above the hot
spot's grid; when that node has none, the street staff above it. Each alert is a
``HotspotAlert`` row and an audit entry; the message goes through the outbox (Telegram),
with the newest case's card. The same group found again later — same category and place,
a case in common with an earlier alert — is not told again.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from minsheng import audit
from minsheng.enums import CATEGORY_LABELS, Category, GridLevel, StaffRole
from minsheng.models import Case, HotspotAlert, Staff

from . import hotspots, notify
from .common import ancestors, staff_of


def leaders(session, grid_id: int | None) -> list[Staff]:
    """The community staff over this grid; the street staff when the community has none."""
    chain = ancestors(session, grid_id)
    for level, role in ((GridLevel.community, StaffRole.community),
                        (GridLevel.street, StaffRole.street)):
        nodes = [g.id for g in chain if GridLevel(g.level) == level]
        found = staff_of(session, nodes, {role})
        if found:
            return found
    return []


def _told_before(session, spot: hotspots.Hotspot, since: datetime) -> bool:
    rows = session.execute(select(HotspotAlert.case_nos).where(
        HotspotAlert.category == spot.category, HotspotAlert.place_key == spot.place_key,
        HotspotAlert.alerted_at >= since)).scalars()
    mine = set(spot.case_nos)
    return any(mine & set(case_nos or []) for case_nos in rows)


def message(spot: hotspots.Hotspot, days: int) -> str:
    shown = "、".join(spot.case_nos[:8]) + ("等" if len(spot.case_nos) > 8 else "")
    where = f"（{spot.grid_name}）" if spot.grid_name else ""
    return (f"【热点问题提醒】近 {days} 天，{spot.place}{where}的"
            f"「{CATEGORY_LABELS[Category(spot.category)]}」问题已有 {spot.reports} 次反映"
            f"（工单 {shown}）。请统筹安排处理，未诉先办，避免再次被投诉。")


def _alert(uow, spot: hotspots.Hotspot, now: datetime, days: int) -> HotspotAlert | None:
    session = uow.session
    told = leaders(session, spot.grid_id)
    row = HotspotAlert(category=spot.category, place_key=spot.place_key, place=spot.place[:300],
                       seed_case_id=spot.seed_case_id, grid_id=spot.grid_id,
                       reports=spot.reports, case_nos=spot.case_nos,
                       staff_ids=[m.id for m in told], alerted_at=now)
    try:
        with session.begin_nested():  # another host's scan inserted it a moment ago
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    latest = session.get(Case, spot.latest_case_id)
    for member in told:
        notify.tell_staff(uow, member, "hotspot_alert", message(spot, days), latest, now,
                          dedupe_key=f"hotspot:{row.id}:{member.id}", relation="hotspot")
    audit.record(uow, "hotspot_alert", actor="system", target=spot.key,
                 detail=f"{spot.place}｜{spot.category}｜{spot.reports} 次｜"
                        f"告知 {len(told)} 人：{','.join(str(m.id) for m in told) or '无'}")
    return row


def scan(uow, now: datetime, settings=None,
         spots: list[hotspots.Hotspot] | None = None) -> list[HotspotAlert]:
    """Alert every hot spot of the whole tree at or over the threshold, not told before;
    ``spots``: the hot spots the scheduler's snapshot just found (else found here)."""
    params = hotspots.Params.from_settings(settings)
    threshold = settings.hotspot_alert_reports if settings is not None else 3
    since = now - timedelta(days=2 * params.window_days)
    made = []
    for spot in spots if spots is not None else hotspots.find(uow, now, params):
        if spot.reports < threshold or _told_before(uow.session, spot, since):
            continue
        row = _alert(uow, spot, now, params.window_days)
        if row is not None:
            made.append(row)
    uow.commit()
    return made
