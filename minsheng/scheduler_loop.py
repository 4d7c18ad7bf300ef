"""The scheduler process: scan, sleep, scan again — and survive its database going away.

A failed tick (database down, locked, a bug in one scan) is logged and retried with
exponential back-off, capped; the next successful tick resets it. The process never ends
because of one error: the supervisor restarts crashed processes, but a database outage is
not a crash, it is a wait.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from minsheng import privacy
from minsheng.clock import utcnow
from minsheng.db import Database

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 60.0
# When this process last took a hot-spot snapshot, per database: grouping reads a whole
# window of cases, so it runs every settings.hotspot_scan_minutes, not every tick.
_hotspots_scanned: dict[str, datetime] = {}


def backoff_seconds(interval: float, failures: int) -> float:
    """interval, 2×, 4× … after consecutive failures, never more than a minute."""
    return min(interval * 2 ** max(failures - 1, 0), max(MAX_BACKOFF_SECONDS, interval))


def tick(database: Database, settings, now: datetime) -> str:
    """One pass of every scan; returns the line the log prints."""
    from minsheng.services import scheduler, stats_rollup

    with database.uow() as uow:
        overdue = scheduler.scan_overdue(uow, now)
    with database.uow() as uow:
        ratings = scheduler.scan_ratings(uow, now, settings)
    with database.uow() as uow:
        urged = scheduler.scan_urges(uow, now, settings)
    with database.uow() as uow:
        purged = privacy.purge_inbound(uow, now, settings.inbound_retention_days)
        uow.commit()
    with database.uow() as uow:  # the dashboard's stored report facts (services/stats_rollup.py)
        refreshed = stats_rollup.refresh(uow, settings.timezone, now)
        uow.commit()
    alerts = scan_hotspots(database, settings, now)
    return (f"超时督办 {len(overdue.escalated)} 件，自动催办 {len(urged)} 件，"
            f"评价提醒 {len(ratings.reminded)} 件，"
            f"自动关闭 {len(ratings.closed)} 件，清除过期原始消息 {purged} 条"
            + (f"，统计数据更新 {refreshed} 件" if refreshed else "")
            + (f"，热点问题提醒 {alerts} 个" if alerts else ""))


def scan_hotspots(database: Database, settings, now: datetime) -> int:
    """When the last scan is hotspot_scan_minutes old: a new hot-spot snapshot (what pages
    and /api/hotspots show) and the alerts it calls for; how many alerts."""
    from minsheng.services import hotspot_alerts, hotspot_snapshots, hotspots

    last = _hotspots_scanned.get(database.url)
    if last is not None and now - last < timedelta(minutes=settings.hotspot_scan_minutes):
        return 0
    with database.uow() as uow:
        spots = hotspot_snapshots.take(uow, now, hotspots.Params.from_settings(settings))
        uow.commit()
    with database.uow() as uow:
        made = hotspot_alerts.scan(uow, now, settings, spots)
    _hotspots_scanned[database.url] = now
    return len(made)


def run(database: Database, settings, interval: float, once: bool = False,
        stamp: Callable[[datetime], str] = str, sleep: Callable[[float], None] = time.sleep,
        max_ticks: int | None = None) -> int:
    """Tick every ``interval`` seconds; on failure wait longer, then try again."""
    failures, ticks = 0, 0
    while max_ticks is None or ticks < max_ticks:
        ticks += 1
        now = utcnow()
        try:
            line = tick(database, settings, now)
        except Exception as error:
            failures += 1
            wait = backoff_seconds(interval, failures)
            log.warning("scheduler tick failed (%s in a row): %s; next try in %.0f s",
                        failures, error, wait, exc_info=failures == 1)
            print(f"[{stamp(now)}] 定时任务失败（连续 {failures} 次）：{type(error).__name__}；"
                  f"{wait:.0f} 秒后重试", flush=True)
            if once:
                return 1
            sleep(wait)
            continue
        failures = 0
        print(f"[{stamp(now)}] {line}", flush=True)
        if once:
            return 0
        sleep(interval)
    return 0
