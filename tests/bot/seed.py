"""Rows the staff tests need: a grid, two grid workers, a resident and an assigned case."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from minsheng.clock import utcnow
from minsheng.db import Database
from minsheng.enums import CaseState, Category, Channel, GridLevel, StaffRole
from minsheng.models import Case, Grid, Resident, ResidentIdentity, Staff

WORKER_TG = 5100001
OTHER_WORKER_TG = 5100002
RESIDENT_TG = 6100001
CASE_NO = "MS-20261122-0007"
OTHER_CASE_NO = "MS-20261122-0008"


@dataclass(frozen=True)
class Seeded:
    worker_id: int
    other_worker_id: int
    resident_id: int


def seed_cases(db: Database) -> Seeded:
    now = utcnow()
    with db.uow() as uow:
        s = uow.session
        community = Grid(code="130102001", name="幸福社区", level=GridLevel.community,
                         xiaoqu=["幸福小区"], buildings=[])
        s.add(community)
        s.flush()
        grid = Grid(code="130102001001", name="幸福社区第一网格", level=GridLevel.grid,
                    parent_id=community.id, xiaoqu=["幸福小区"], buildings=["幸福小区:3号楼"])
        s.add(grid)
        s.flush()
        worker = Staff(name="王芳", public_name="王网格员", role=StaffRole.grid_worker,
                       grid_id=grid.id, telegram_user_id=WORKER_TG, duty_phone="0311-1234567")
        other = Staff(name="李强", public_name="李网格员", role=StaffRole.grid_worker,
                      grid_id=grid.id, telegram_user_id=OTHER_WORKER_TG)
        leader = Staff(name="赵敏", public_name="赵网格长", role=StaffRole.grid_leader,
                       grid_id=community.id, telegram_user_id=5100009)
        resident = Resident(display_name="居民", phone="13800138000")
        s.add_all([worker, other, leader, resident])
        s.flush()
        s.add(ResidentIdentity(resident_id=resident.id, channel=Channel.telegram,
                               external_id=str(RESIDENT_TG)))
        for case_no, assignee, description in (
            (CASE_NO, worker, '3号楼楼道堆满杂物 <b>快来</b> & "看看"'),
            (OTHER_CASE_NO, other, "东门路灯不亮"),
        ):
            s.add(Case(
                case_no=case_no, category=Category.clutter, description=description,
                xiaoqu="幸福小区", building="3号楼", address="幸福小区3号楼2单元",
                channel=Channel.telegram, state=CaseState.assigned, grid_id=grid.id,
                assignee_id=assignee.id, resident_id=resident.id, phone="13800138000",
                accepted_at=now, ack_deadline=now + timedelta(hours=2),
                resolve_deadline=now + timedelta(hours=48),
            ))
        uow.commit()
        return Seeded(worker.id, other.id, resident.id)


def case_state(db: Database, case_no: str) -> str:
    from sqlalchemy import select

    with db.uow() as uow:
        return str(uow.session.execute(
            select(Case.state).where(Case.case_no == case_no)).scalar_one())
