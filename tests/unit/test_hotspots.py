"""热点问题: reports grouped by place, category and wording, counted in a window, scoped
like the statistics, and told to the community once per hot spot."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from minsheng.enums import Category
from minsheng.models import AuditEntry, HotspotAlert, OutboxMessage
from minsheng.places import Place
from minsheng.services import cases, hotspot_alerts, hotspots
from minsheng.settings import Settings
from tests.factories import T0, report, resident

LIGHTS = ["阳光花园主路的路灯坏了一排，晚上很黑", "小区里好几盏路灯不亮了，晚上看不见路",
          "路灯一直不亮，已经一个星期了", "路灯坏了没人修，老人晚上摔了一跤"]
GARBAGE = ["幸福里垃圾站满了好几天没人清运", "垃圾桶溢出来了，垃圾撒了一地没人收",
           "小区垃圾三天没拉走了，味道特别大"]


def settings(**values) -> Settings:
    return Settings(_env_file=None, **values)


def open_at(db, n: int, text: str, when, *, place: Place, category=Category.livelihood,
            **extra) -> str:
    with db.uow() as uow:
        return cases.open_case(uow, report(f"hs-{n}", category=category, place=place,
                                           description=text, who=resident(n), **extra),
                               now=when).case_no


def lights(db, count: int, start: int = 0, when=T0) -> list[str]:
    return [open_at(db, start + i, LIGHTS[i % len(LIGHTS)], when + timedelta(hours=i),
                    place=Place("阳光花园")) for i in range(count)]


def find(db, now, grid_ids=None, **params):
    with db.uow() as uow:
        return hotspots.find(uow, now, hotspots.Params(**params), grid_ids=grid_ids)


def scan(db, now):
    with db.uow() as uow:
        return hotspot_alerts.scan(uow, now, settings())


def alerts_told(db) -> list[tuple[str, str]]:
    with db.uow() as uow:
        return [(m.recipient, m.kind) for m in uow.session.execute(
            select(OutboxMessage).where(OutboxMessage.kind == "hotspot_alert")
            .order_by(OutboxMessage.id)).scalars()]


def test_similar_reports_at_one_estate_make_one_hot_spot_with_its_cases(db, world):
    numbers = lights(db, 3)
    other = open_at(db, 50, "5号楼暖气不热，屋里才十五度", T0, place=Place("阳光花园", "5号楼"))
    [spot] = find(db, T0 + timedelta(days=1))
    assert spot.category == "livelihood" and spot.place == "阳光花园"
    assert spot.reports == 3 and sorted(spot.case_nos) == sorted(numbers)
    assert other not in spot.case_nos
    assert spot.first_at == T0 and spot.last_at == T0 + timedelta(hours=2)
    assert spot.grid_code == "G2" and spot.trend == "new"
    assert spot.weekly[-1] == 3 and sum(spot.weekly) == 3 and len(spot.weekly) == 5


def test_an_estate_named_by_its_alias_from_the_grid_table_is_the_same_place(db, world):
    from minsheng.models import Grid

    with db.uow() as uow:
        grid = uow.session.execute(select(Grid).where(Grid.code == "G2")).scalar_one()
        grid.aliases = ["老纺织宿舍=阳光花园"]
        uow.commit()
    numbers = lights(db, 2)
    numbers.append(open_at(db, 60, LIGHTS[2], T0 + timedelta(hours=3),
                           place=Place("老纺织宿舍")))
    [spot] = find(db, T0 + timedelta(days=1))
    assert spot.reports == 3 and sorted(spot.case_nos) == sorted(numbers)
    assert spot.place == "阳光花园"  # the estate's own name, not its alias


def test_reports_outside_the_window_are_not_counted_and_feed_the_trend(db, world):
    lights(db, 2, when=T0)
    later = T0 + timedelta(days=35)
    lights(db, 4, start=10, when=later)
    [spot] = find(db, later + timedelta(days=1))
    assert spot.reports == 4 and spot.previous == 2 and spot.trend == "up"
    assert find(db, later + timedelta(days=1), window_days=3)[0].reports == 4
    assert find(db, T0 + timedelta(days=80)) == []


def test_a_duplicate_report_attached_to_an_open_case_counts_as_a_report(db, world):
    home = Place("幸福里小区", "3号楼")
    first = open_at(db, 1, "楼道堆满杂物", T0, place=home, category=Category.clutter)
    again = [open_at(db, n, "楼道里杂物又堆满了", T0 + timedelta(hours=n), place=home,
                     category=Category.clutter) for n in (2, 3)]
    assert again == [first, first]  # merged into the open case by intake
    [spot] = find(db, T0 + timedelta(days=1))
    assert spot.case_nos == [first] and spot.reports == 3
    assert spot.place == "幸福里小区3号楼"


def test_hot_spots_are_limited_to_the_users_part_of_the_grid_tree(db, world):
    lights(db, 3)  # routed to G2 (阳光花园)
    for n, text in enumerate(GARBAGE):
        open_at(db, 20 + n, text, T0, place=Place("幸福里小区"), category=Category.sanitation)
    now = T0 + timedelta(days=1)
    everything = find(db, now)
    assert sorted(s.category for s in everything) == ["livelihood", "sanitation"]
    mine = find(db, now, grid_ids={world.grids["G2"]})
    assert [s.category for s in mine] == ["livelihood"]
    assert find(db, now, grid_ids=set()) == []


def test_three_reports_alert_the_community_once_and_a_new_hot_spot_alerts_again(db, world):
    lights(db, 3)
    made = scan(db, T0 + timedelta(days=1))
    assert len(made) == 1 and made[0].reports == 3
    desk = f"staff:{world.staff['desk']}"
    assert alerts_told(db) == [(desk, "hotspot_alert")]
    lights(db, 1, start=3, when=T0 + timedelta(days=2))  # a fourth report
    assert scan(db, T0 + timedelta(days=2, hours=1)) == []
    assert alerts_told(db) == [(desk, "hotspot_alert")]
    for n, text in enumerate(GARBAGE):  # elsewhere: its own alert
        open_at(db, 20 + n, text, T0 + timedelta(days=2), place=Place("幸福里小区"),
                category=Category.sanitation)
    [second] = scan(db, T0 + timedelta(days=3))
    assert second.category == "sanitation" and second.staff_ids == [world.staff["desk"]]
    assert alerts_told(db) == [(desk, "hotspot_alert")] * 2
    with db.uow() as uow:
        rows = uow.session.execute(select(HotspotAlert).order_by(HotspotAlert.id)).scalars()
        assert [r.reports for r in rows] == [3, 3]
        audited = uow.session.execute(select(func.count()).where(
            AuditEntry.action == "hotspot_alert")).scalar()
        text = uow.session.execute(select(OutboxMessage.text).where(
            OutboxMessage.kind == "hotspot_alert")).scalars().first()
    assert audited == 2
    assert "热点问题提醒" in text and "阳光花园" in text


def test_two_reports_are_listed_but_alert_nobody(db, world):
    lights(db, 2)
    assert len(find(db, T0 + timedelta(days=1))) == 1
    assert scan(db, T0 + timedelta(days=1)) == []
    assert alerts_told(db) == []


def test_a_hot_spot_whose_first_case_left_the_window_is_not_alerted_again(db, world):
    lights(db, 3)
    assert len(scan(db, T0 + timedelta(days=1))) == 1
    lights(db, 3, start=10, when=T0 + timedelta(days=20))
    # the first three leave the window; the later three share no case with the alert
    assert len(scan(db, T0 + timedelta(days=25))) == 0  # six reports, three already told
    assert len(scan(db, T0 + timedelta(days=31))) == 1  # a fresh group: told again


def test_the_street_is_told_when_the_community_has_no_staff(db, world):
    from minsheng.models import Staff

    with db.uow() as uow:
        uow.session.get(Staff, world.staff["desk"]).active = False
        uow.commit()
        assert [m.id for m in hotspot_alerts.leaders(uow.session, world.grids["G2"])] \
            == [world.staff["street"]]


def test_the_default_threshold_setting_is_the_one_chosen_on_the_evaluation_set():
    from minsheng.services.hotspot_clusters import DEFAULT_THRESHOLD

    assert settings().hotspot_similarity == DEFAULT_THRESHOLD


def test_the_scheduler_tick_alerts_and_then_waits_its_interval_before_scanning_again(db, world):
    from minsheng import scheduler_loop

    lights(db, 3)
    config = settings(database_url=db.url, hotspot_scan_minutes=30)
    now = T0 + timedelta(days=1)
    assert "热点问题提醒 1 个" in scheduler_loop.tick(db, config, now)
    for n, text in enumerate(GARBAGE):
        open_at(db, 20 + n, text, now, place=Place("幸福里小区"), category=Category.sanitation)
    assert "热点问题" not in scheduler_loop.tick(db, config, now + timedelta(minutes=10))
    assert "热点问题提醒 1 个" in scheduler_loop.tick(db, config, now + timedelta(minutes=31))
