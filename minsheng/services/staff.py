"""Staff look-ups and registration (``minsheng staff add``)."""
from __future__ import annotations

from sqlalchemy import select

from minsheng.enums import StaffRole
from minsheng.errors import InvalidInput, NotFound
from minsheng.models import Grid, Staff


def find_by_telegram(uow, telegram_user_id: int) -> Staff | None:
    """The active staff member with this Telegram user id, or None."""
    return uow.session.execute(select(Staff).where(
        Staff.telegram_user_id == int(telegram_user_id), Staff.active.is_(True))
    ).scalar_one_or_none()


def add_staff(uow, name: str, role: StaffRole, grid_code: str, *,
              telegram_user_id: int | None = None, phone: str | None = None,
              public_name: str | None = None, on_duty: bool = True) -> Staff:
    """Register a staff member on a grid node; commits."""
    session = uow.session
    grid = session.execute(select(Grid).where(Grid.code == grid_code)).scalar_one_or_none()
    if grid is None:
        raise NotFound(f"没有网格编码 {grid_code}。")
    if not name.strip():
        raise InvalidInput("请填写姓名。")
    if telegram_user_id is not None and find_by_telegram(uow, telegram_user_id) is not None:
        raise InvalidInput(f"Telegram 用户 {telegram_user_id} 已登记为工作人员。")
    member = Staff(name=name.strip(), public_name=(public_name or name).strip(),
                   role=StaffRole(role), grid_id=grid.id, telegram_user_id=telegram_user_id,
                   duty_phone=phone, on_duty=on_duty, active=True)
    session.add(member)
    uow.commit()
    return member


def list_staff(uow) -> list[tuple[Staff, Grid]]:
    return list(uow.session.execute(
        select(Staff, Grid).join(Grid, Staff.grid_id == Grid.id).order_by(Grid.code, Staff.id)
    ).all())
