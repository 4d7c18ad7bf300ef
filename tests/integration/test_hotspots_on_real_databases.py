"""Hot spots on the migrated SQLite file and on PostgreSQL: found the same way, and two
scheduler hosts scanning at the same moment tell the community once."""
from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from minsheng.enums import Category
from minsheng.models import HotspotAlert, OutboxMessage
from minsheng.places import Place
from minsheng.services import cases, hotspot_alerts, hotspots
from minsheng.settings import Settings
from tests.factories import T0, build_world, report, resident

TEXTS = ["幸福里垃圾站满了好几天没人清运", "垃圾桶溢出来了，垃圾撒了一地没人收",
         "小区垃圾三天没拉走了，味道特别大", "垃圾站又堆满了，清运车一直不来"]


def opened(db, count: int) -> list[str]:
    numbers = []
    for n in range(count):
        with db.uow() as uow:
            numbers.append(cases.open_case(uow, report(
                f"hs-int-{n}", category=Category.sanitation, place=Place("幸福里小区"),
                description=TEXTS[n], who=resident(n)), now=T0 + timedelta(hours=n)).case_no)
    return numbers


def test_a_hot_spot_is_found_and_two_hosts_scanning_at_once_alert_it_once(db):
    world = build_world(db)
    numbers = opened(db, 4)
    now = T0 + timedelta(days=1)
    with db.uow() as uow:
        [spot] = hotspots.find(uow, now)
    assert sorted(spot.case_nos) == sorted(numbers) and spot.reports == 4
    assert spot.place == "幸福里小区" and spot.grid_code == "C1"  # two grids cover it
    made, errors = [], []
    start = threading.Barrier(2)

    def host():
        try:
            start.wait()
            with db.uow() as uow:
                made.extend(hotspot_alerts.scan(uow, now, Settings(_env_file=None)))
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    threads = [threading.Thread(target=host) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    with db.uow() as uow:
        rows = uow.session.execute(select(func.count(HotspotAlert.id))).scalar()
        told = uow.session.execute(select(OutboxMessage.recipient).where(
            OutboxMessage.kind == "hotspot_alert")).scalars().all()
    assert rows == 1 and len(made) == 1
    assert told == [f"staff:{world.staff['desk']}"]
