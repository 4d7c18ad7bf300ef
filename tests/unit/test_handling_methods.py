"""The handling method chosen at 办结, the departments of 街道吹哨 and 转办, the photo rule."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select

from minsheng import departments, staff_actions
from minsheng.enums import Category, Handling
from minsheng.errors import InvalidInput
from minsheng.models import AuditEntry, Case, CaseEvent
from minsheng.services import cases, methods
from tests.factories import T0, report

PHOTO = ("var/photos/after.jpg",)


def open_acknowledged(db, world, category=Category.livelihood, key="m-1"):
    with db.uow() as uow:
        no = cases.open_case(uow, report(key, category=category), now=T0).case_no
    with db.uow() as uow:
        cases.acknowledge(uow, no, world.staff["worker1"], now=T0)
    return no


def resolve(db, world, no, **values):
    request = staff_actions.Request(no, world.staff["worker1"], values.pop("note", "已办结"),
                                    **values)
    with db.uow() as uow:
        changed = staff_actions.perform(uow, "resolve", request)
        uow.commit()
        return changed


def add_departments(db, *names):
    with db.uow() as uow:
        ids = [departments.save(uow, name, "0311-1234567", actor="test").id for name in names]
        uow.commit()
    return ids


def stored(db, no):
    with db.uow() as uow:
        case = uow.session.execute(select(Case).where(Case.case_no == no)).scalar_one()
        event = uow.session.execute(select(CaseEvent).where(
            CaseEvent.case_id == case.id, CaseEvent.action == "resolve")).scalar_one_or_none()
        names = [d.department.name for d in case.handling_departments]
        return case.handling, names, event.data if event else None


@pytest.mark.parametrize("method", list(Handling))
def test_every_one_of_the_six_methods_can_be_chosen(db, world, method):
    no = open_acknowledged(db, world)
    ids = add_departments(db, "城管执法中队") if method in methods.NEEDS_DEPARTMENTS else []
    assert resolve(db, world, no, handling_method=method.value, department_ids=tuple(ids))
    handling, names, data = stored(db, no)
    assert handling == method and data["handling"] == method.value
    assert names == (["城管执法中队"] if ids else [])


def test_an_unknown_method_is_refused_in_chinese_and_nothing_is_recorded(db, world):
    no = open_acknowledged(db, world)
    with pytest.raises(InvalidInput, match="没有「by_magic」这种处理方式.*即时办理"):
        resolve(db, world, no, handling_method="by_magic")
    assert stored(db, no)[2] is None


def test_street_whistle_and_referral_must_name_active_departments(db, world):
    no = open_acknowledged(db, world)
    [kept, dropped] = add_departments(db, "住建局", "市场监管所")
    with db.uow() as uow:
        departments.set_active(uow, dropped, False, actor="test")
        uow.commit()
    with pytest.raises(InvalidInput, match="须选择报到的职能部门"):
        resolve(db, world, no, handling_method="street_whistle")
    with pytest.raises(InvalidInput, match="不存在或已停用"):
        resolve(db, world, no, handling_method="referral", department_ids=(dropped,))
    with pytest.raises(InvalidInput, match="不需要选择部门"):
        resolve(db, world, no, handling_method="grid", department_ids=(kept,))
    assert resolve(db, world, no, handling_method="referral", department_ids=(kept, kept))
    handling, names, data = stored(db, no)
    assert handling == Handling.referral and names == ["住建局"]
    assert data["departments"] == [{"id": kept, "name": "住建局"}]


def test_without_a_choice_the_method_of_the_level_is_kept(db, world):
    no = open_acknowledged(db, world)
    assert resolve(db, world, no)
    assert stored(db, no)[0] == Handling.grid


def test_a_repeated_resolve_changes_nothing_even_with_another_method(db, world):
    no = open_acknowledged(db, world)
    assert resolve(db, world, no, handling_method="on_the_spot")
    assert resolve(db, world, no, handling_method="joint_meeting") is False
    assert stored(db, no)[0] == Handling.on_the_spot


@pytest.mark.parametrize("category", [Category.illegal_construction, Category.clutter,
                                      Category.sanitation])
def test_the_configured_categories_need_a_photo_at_resolve(db, world, category):
    no = open_acknowledged(db, world, category)
    with pytest.raises(InvalidInput, match="办结须附一张处置后的现场照片"):
        resolve(db, world, no, handling_method="grid")
    assert stored(db, no)[2] is None
    assert resolve(db, world, no, handling_method="grid", photos=PHOTO)


def test_the_photo_rule_follows_the_setting(db, world):
    no = open_acknowledged(db, world, Category.clutter)
    nothing = SimpleNamespace(resolve_photo_categories=[])
    assert resolve(db, world, no, handling_method="grid", settings=nothing)
    other = open_acknowledged(db, world, Category.dispute, key="m-2")
    strict = SimpleNamespace(resolve_photo_categories=[Category.dispute])
    with pytest.raises(InvalidInput, match="矛盾纠纷"):
        resolve(db, world, other, handling_method="grid", settings=strict)


def test_counts_by_method_give_every_code(db, world):
    for n, method in enumerate(["on_the_spot", "on_the_spot", "joint_meeting"]):
        no = open_acknowledged(db, world, key=f"c-{n}")
        resolve(db, world, no, handling_method=method)
    open_acknowledged(db, world, key="open")  # not resolved: not counted
    with db.uow() as uow:
        counts = methods.counts_by_method(uow.session)
    assert counts == {"on_the_spot": 2, "grid": 0, "community": 0, "street_whistle": 0,
                      "joint_meeting": 1, "referral": 0}


def test_department_edits_are_checked_and_audited(db, world):
    [first] = add_departments(db, "城管执法中队")
    with db.uow() as uow:
        with pytest.raises(InvalidInput, match="已有名为"):
            departments.save(uow, "城管执法中队")
        with pytest.raises(InvalidInput, match="部门名称"):
            departments.save(uow, "  ")
        departments.save(uow, "城管执法大队", "12319", department_id=first, actor="user:1")
        uow.commit()
    with db.uow() as uow:
        assert [(d.name, d.duty_phone) for d in departments.listing(uow.session)] == [
            ("城管执法大队", "12319")]
        actions = list(uow.session.execute(select(AuditEntry.action)).scalars())
    assert actions == ["department_saved", "department_saved"]
