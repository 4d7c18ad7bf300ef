"""About three months of past cases for the demo district, made through the services so
that every case has its events, deadlines and ratings. Deterministic (fixed seed) and
idempotent: each report carries an idempotency key, and a key seen before is skipped.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import select

from minsheng.demo_district import all_buildings
from minsheng.enums import (
    Category,
    Channel,
    EscalationLevel,
    FeedbackRoute,
    GridLevel,
    Handling,
    Rating,
)
from minsheng.errors import DomainError
from minsheng.models import Case, Department, Grid
from minsheng.places import Place
from minsheng.services import cases, cosign, extension, methods, outbox, scheduler, urging
from minsheng.services.contract import NewCase, ResidentRef

DAYS = 90
REPORTS = 265
DESCRIPTIONS = {
    Category.safety_hazard: ["楼道里有人飞线给电动车充电", "单元门口井盖缺失，晚上很危险",
                             "外墙瓷砖松动，有掉落的风险", "楼下大树倾斜快倒了"],
    Category.sanitation: ["垃圾桶满了两天没人清运", "楼下污水井冒水，味道很大",
                          "小区里老鼠很多", "绿化带里有很多狗粪没人管"],
    Category.illegal_construction: ["一楼住户在绿地上搭了彩钢棚", "顶楼有人私自加盖房子",
                                    "有住户把阳台往外扩建了"],
    Category.dispute: ["楼上天天半夜噪音，沟通无果", "楼上漏水到我家，协商不成",
                       "和物业因为停车费有纠纷"],
    Category.livelihood: ["路灯坏了一个多星期", "电梯坏了没人修，老人上下楼困难",
                          "暖气不热，请帮忙协调", "想咨询高龄补贴怎么申请"],
    Category.clutter: ["楼道里堆满了杂物和纸箱", "小区门口有辆僵尸车停了半年",
                       "共享单车把人行道堵了", "楼梯间堆放了装修材料"],
    Category.public_order: ["小区里有人推销保健品，疑似诈骗", "晚上有人在楼下喝酒闹事",
                            "电动车电瓶被偷了"],
}
CATEGORY_WEIGHTS = {Category.safety_hazard: 12, Category.sanitation: 22,
                    Category.illegal_construction: 6, Category.dispute: 12,
                    Category.livelihood: 20, Category.clutter: 20, Category.public_order: 8}
CHANNEL_WEIGHTS = {Channel.telegram: 34, Channel.web: 10, Channel.hotline: 20,
                   Channel.patrol: 15, Channel.visit: 8, Channel.service_station: 8,
                   Channel.mailbox: 5}
ONLINE = (Channel.telegram, Channel.web)


def _pick(rng: random.Random, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _report(rng: random.Random, n: int, when: datetime) -> NewCase:
    category = _pick(rng, CATEGORY_WEIGHTS)
    channel = _pick(rng, CHANNEL_WEIGHTS)
    xiaoqu, building = rng.choice(all_buildings())
    phone = f"13{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}"
    external = str(880000000 + n) if channel in ONLINE else phone
    return NewCase(
        channel=channel, idempotency_key=f"seed-demo-{n}",
        description=rng.choice(DESCRIPTIONS[category]), category=category,
        place=Place(xiaoqu, building, f"{rng.randint(1, 4)}单元", None),
        address=f"{xiaoqu}{building}", phone=phone,
        resident=ResidentRef(channel, external, display_name=f"居民{n}"),
        urgent=category == Category.safety_hazard and rng.random() < 0.15)


def _owner(uow, case_no: str) -> int:
    return uow.session.execute(select(Case.assignee_id).where(Case.case_no == case_no)).scalar()


def _caller(uow, case_no: str, handler: int | None) -> int | None:
    """Who makes the 回访 call: someone on the next rung up, never the case's handler."""
    from minsheng.services.escalation import next_rung

    case = uow.session.execute(select(Case).where(Case.case_no == case_no)).scalar_one()
    rung = next_rung(uow.session, case.grid_id, case.level, exclude=handler)
    return rung[1].id if rung else None


DEMO_DEPARTMENTS = (("城管执法中队", "0311-12319"), ("区住建局", "0311-86012345"),
                    ("环卫所", "0311-86054321"), ("市场监管所", "0311-12315"))
# The handling methods staff choose at 办结, by the level the case reached (weights).
METHODS_BY_LEVEL = {
    EscalationLevel.grid: {Handling.on_the_spot: 35, Handling.grid: 65},
    EscalationLevel.grid_leader: {Handling.on_the_spot: 20, Handling.grid: 80},
    EscalationLevel.community: {Handling.community: 60, Handling.joint_meeting: 25,
                                Handling.referral: 15},
    EscalationLevel.street: {Handling.street_whistle: 75, Handling.joint_meeting: 25},
    EscalationLevel.referral: {Handling.referral: 100},
}


def _departments(session) -> list[int]:
    """The demo's departments (added once), as ids."""
    have = {d.name: d.id for d in session.execute(select(Department)).scalars()}
    for name, phone in DEMO_DEPARTMENTS:
        if name not in have:
            row = Department(name=name, duty_phone=phone, active=True)
            session.add(row)
            session.flush()
            have[name] = row.id
    return sorted(have.values())


def _demo_photo(settings) -> str:
    """One small picture of a tidied place, for the 办结 photos the demo needs."""
    from pathlib import Path

    from PIL import Image

    path = Path(getattr(settings, "photos_dir", None) or "var/photos") / "demo" / "after.jpg"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 48), (120, 160, 120)).save(path, "JPEG")
    return str(path)


def _resolve(uow, rng: random.Random, case_no: str, owner: int, note: str, at: datetime,
             demo: dict) -> None:
    """办结 as staff do it: a method fitting the level, departments when it needs them."""
    weights = METHODS_BY_LEVEL[EscalationLevel(cases.get_case(uow, case_no).level)]
    method = rng.choices(list(weights), weights=list(weights.values()))[0]
    named = rng.sample(demo["departments"], rng.randint(1, 2)) \
        if method in methods.NEEDS_DEPARTMENTS else []
    cases.resolve(uow, case_no, owner, note, now=at, handling=method.value,
                  department_ids=named, photos=[demo["photo"]])


def _handle(uow, rng: random.Random, case_no: str, opened: datetime, limit: datetime,
            now: datetime, resident: ResidentRef, demo: dict) -> None:
    """Acknowledge, maybe escalate, resolve (mostly on time), and maybe rate."""
    at = opened + timedelta(minutes=rng.randint(5, 100))
    if at > now:
        return
    owner = _owner(uow, case_no)
    if rng.random() < 0.04:  # 退单: not this grid's matter; the community desk takes it
        code = rng.choice(["not_this_grid", "not_our_duty", "incomplete"])
        cases.return_case(uow, case_no, owner, "", reason_code=code, now=at)
        at += timedelta(minutes=rng.randint(20, 90))
        owner = _owner(uow, case_no)
    cases.acknowledge(uow, case_no, owner, now=at)
    if rng.random() < 0.08:  # needs the next rung (小事不出社区，大事不出街道)
        at += timedelta(hours=rng.randint(1, 6))
        cases.escalate(uow, case_no, owner, "需要上级协调", now=at)
        owner = _owner(uow, case_no)
        at += timedelta(minutes=rng.randint(5, 60))
        cases.acknowledge(uow, case_no, owner, now=at)
    limit = _workflow(uow, rng, case_no, owner, at, limit, now)
    span = (limit - at).total_seconds()
    late = rng.random() < 0.04
    done = at + timedelta(seconds=span * (rng.uniform(1.05, 1.6) if late
                                          else rng.uniform(0.1, 0.9)))
    if done > now:
        cases.add_progress(uow, case_no, owner, "已到现场查看，正在协调处理",
                           now=at + timedelta(minutes=30))
        return
    cases.add_progress(uow, case_no, owner, "已到现场，联系相关方处理中",
                       now=at + (done - at) / 3)
    _resolve(uow, rng, case_no, owner, "已处理完毕，现场已复查", done, demo)
    _rate(uow, rng, case_no, done, now, owner, resident, demo)


def _workflow(uow, rng: random.Random, case_no: str, owner: int, at: datetime,
              limit: datetime, now: datetime) -> datetime:
    """What happens to some cases between 签收 and 办结: a leader's 催办, a 延期 asked and
    decided one rung up, a 加签 of a neighbouring grid. Returns the (maybe moved) deadline."""
    supervisor = _caller(uow, case_no, owner)
    roll = rng.random()
    if supervisor is not None and roll < 0.06 and at + timedelta(hours=2) <= now:
        urging.urge(uow, case_no, supervisor, "居民再次来电询问进度", now=at + timedelta(hours=2))
    elif supervisor is not None and roll < 0.11 and at + timedelta(hours=4) <= now:
        extension.request(uow, case_no, owner, "需等待产权单位到场", rng.randint(1, 3),
                          now=at + timedelta(hours=3))
        extension.decide(uow, case_no, supervisor, rng.random() < 0.8,
                         note=None, now=at + timedelta(hours=4))
        limit = cases.get_case(uow, case_no).resolve_deadline or limit
    elif roll < 0.15:
        case = uow.session.execute(select(Case).where(Case.case_no == case_no)).scalar_one()
        neighbour = uow.session.execute(
            select(Grid.code).where(Grid.level == GridLevel.grid, Grid.id != case.grid_id)
            .order_by(Grid.code)).scalars().first()
        if neighbour is not None:
            cosign.add(uow, case_no, owner, grid_code=neighbour, now=at + timedelta(minutes=30))
    return limit


def _rate(uow, rng: random.Random, case_no: str, resolved: datetime, now: datetime,
          owner: int, resident: ResidentRef, demo: dict) -> None:
    if rng.random() > 0.88:
        return  # no rating: closed by the rating window (scan_ratings)
    at = resolved + timedelta(hours=rng.randint(1, 30))
    if at > now:
        return
    roll = rng.random()
    rating = (Rating.satisfied if roll < 0.80 else
              Rating.basically_satisfied if roll < 0.93 else Rating.dissatisfied)
    # residents on Telegram or the web rate online; the others are called back (offline)
    online = resident.channel in ONLINE
    route = FeedbackRoute.online if online else FeedbackRoute.offline
    caller = None if online else _caller(uow, case_no, owner)
    if not online and caller is None:
        return
    comment = "处理得不彻底" if rating == Rating.dissatisfied else None
    cases.rate(uow, case_no, rating, route, comment=comment, staff_id=caller,
               resident=resident if online else None, now=at)
    if rating == Rating.dissatisfied:  # reworked one level up, then rated again or not
        view = cases.get_case(uow, case_no)
        again = at + timedelta(hours=rng.randint(2, 20))
        if again > now:
            return
        cases.acknowledge(uow, case_no, view.assignee_id, now=again)
        _resolve(uow, rng, case_no, view.assignee_id, "提级复查，已彻底处理",
                 again + timedelta(hours=3), demo)
        caller = _caller(uow, case_no, view.assignee_id)
        if rng.random() < 0.5 and again + timedelta(hours=8) <= now and caller is not None:
            cases.rate(uow, case_no, Rating.basically_satisfied, FeedbackRoute.offline,
                       staff_id=caller, now=again + timedelta(hours=8))


def seed_cases(database, now: datetime, settings=None, reports: int = REPORTS) -> int:
    """Open and work through ``reports`` past reports; returns how many cases were new."""
    rng = random.Random(7621)
    start = now - timedelta(days=DAYS)
    moments = sorted(start + timedelta(days=rng.uniform(0, DAYS)) for _ in range(reports))
    created = 0
    with database.uow() as uow:
        demo = {"departments": _departments(uow.session), "photo": _demo_photo(settings)}
        uow.commit()
    for n, when in enumerate(moments, start=1):
        # residents report in daytime (07–21 local = 23–13 UTC)
        when = when.replace(hour=(23 + rng.randint(0, 14)) % 24, minute=rng.randint(0, 59))
        if when > now:
            when = now - timedelta(hours=1)
        report = _report(rng, n, when)
        withdraw = rng.random() < 0.012
        with database.uow() as uow:
            uow.session.info[outbox.SILENT] = True
            result = cases.open_case(uow, report, now=when, settings=settings)
            if not result.created:
                continue  # seeded before (idempotent) or merged into an open case
            created += 1
            try:
                if withdraw:
                    cases.withdraw(uow, result.case_no, report.resident,
                                   now=when + timedelta(hours=1))
                else:
                    _handle(uow, rng, result.case_no, when, result.resolve_deadline, now,
                            report.resident, demo)
            except DomainError:
                uow.session.rollback()  # keep the case as far as it got
    day = start
    while day <= now:  # the rating window as the daily scheduler would have run it
        with database.uow() as uow:
            uow.session.info[outbox.SILENT] = True
            scheduler.scan_ratings(uow, day, settings)
        day += timedelta(days=1)
    return created
