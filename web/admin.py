# ruff: noqa: B008  (FastAPI declares dependencies and form fields as call defaults)
"""Grid tree, staff, routing rules and time limits: view (office roles), edit and import (admin)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from minsheng import audit, departments, grid_import
from minsheng.db import UnitOfWork
from minsheng.enums import Category, GridLevel, StaffRole
from minsheng.errors import DomainError
from minsheng.models import Grid, RoutingRule, Staff, TimeLimit
from minsheng.users import UserView
from web import imports
from web.deps import Scope, admin_user, office_user, render, uow, user_scope

router = APIRouter(prefix="/admin", include_in_schema=False)
ROLE_LABELS = {StaffRole.grid_worker: "网格员", StaffRole.grid_leader: "网格长",
               StaffRole.community: "社区", StaffRole.street: "街道",
               StaffRole.department: "职能部门", StaffRole.police_liaison: "社区民警",
               StaffRole.enforcement: "综合执法", StaffRole.admin: "管理员"}
LEVEL_LABELS = {GridLevel.district: "区", GridLevel.street: "街道", GridLevel.community: "社区",
                GridLevel.grid: "网格", GridLevel.micro_grid: "微网格"}
# The page's tabs, one section at a time (the whole page was 6,200 px tall on a phone).
SECTIONS = {"grids": "网格", "staff": "工作人员", "rules": "派单规则", "limits": "办理时限",
            "departments": "职能部门", "import": "批量导入"}
EDIT_ONLY = {"import"}  # tabs only an admin, who may edit, sees


def default_limits() -> dict[tuple[Category, bool], tuple]:
    """The domain's default (ack, resolve) limits per category and urgency."""
    from minsheng.services import limits

    return {(c, u): limits.default_limits(c, u) for c in Category for u in (False, True)}


def _tree(grids: list[Grid], scope: Scope) -> list[tuple[int, Grid]]:
    """(depth, grid) in tree order, limited to the user's scope."""
    children: dict[int | None, list[Grid]] = {}
    for grid in grids:
        children.setdefault(grid.parent_id, []).append(grid)
    ordered: list[tuple[int, Grid]] = []

    def walk(parent_id: int | None, depth: int) -> None:
        for grid in sorted(children.get(parent_id, []), key=lambda g: g.code):
            if scope.allows(grid.id):
                ordered.append((depth, grid))
            walk(grid.id, depth + 1)

    walk(None, 0)
    return ordered


def _back(message: str, kind: str = "ok", section: str = "grids") -> RedirectResponse:
    """Back to the tab the form was on, with the result shown there."""
    from urllib.parse import quote

    return RedirectResponse(f"/admin?section={section}&{kind}={quote(message)}",
                            status_code=303)


@router.get("")
def overview(request: Request, user: UserView = Depends(office_user),
             scope: Scope = Depends(user_scope), unit: UnitOfWork = Depends(uow),
             section: str = "grids"):
    can_edit = user.role == "admin"
    tabs = {k: v for k, v in SECTIONS.items() if can_edit or k not in EDIT_ONLY}
    section = section if section in tabs else "grids"
    session = unit.session
    grids = list(session.execute(select(Grid)).scalars())
    staff = [m for m in session.execute(select(Staff).order_by(Staff.grid_id, Staff.name)).scalars()
             if scope.allows(m.grid_id)]
    rules = list(session.execute(select(RoutingRule).order_by(RoutingRule.category)).scalars())
    overrides = {(t.category, t.urgent): t for t in session.execute(select(TimeLimit)).scalars()}
    from minsheng.services.limits import UNITS, row_limits

    limits = []
    for (category, urgent), (ack, resolve) in default_limits().items():
        row = overrides.get((category, urgent))
        ack, resolve = row_limits(row) if row else (ack, resolve)
        limits.append({"category": category, "urgent": urgent, "ack": ack, "resolve": resolve,
                       "overridden": row is not None})
    flashes = [{"kind": k, "text": request.query_params[k]} for k in ("ok", "error")
               if request.query_params.get(k)]
    return render(request, "admin.html", tree=_tree(grids, scope),
                  grids_by_id={g.id: g for g in grids}, staff=staff, rules=rules,
                  limits=limits, flashes=flashes, role_labels=ROLE_LABELS,
                  level_labels=LEVEL_LABELS, categories=list(Category), staff_roles=list(StaffRole),
                  levels=list(GridLevel), can_edit=can_edit, tabs=tabs, section=section,
                  units={k: v[0] for k, v in UNITS.items()},
                  departments=departments.listing(session, include_inactive=True))


@router.post("/grids")
def save_grid(request: Request, code: str = Form(...), name: str = Form(...),
              level: GridLevel = Form(...),
              parent_code: str = Form(""), xiaoqu: str = Form(""), buildings: str = Form(""),
              lat: str = Form(""), lon: str = Form(""),
              aliases: str | None = Form(None), landmarks: str | None = Form(None),
              _user: UserView = Depends(admin_user), unit: UnitOfWork = Depends(uow)):
    row = {"code": code, "name": name, "level": level.value, "parent_code": parent_code,
           "xiaoqu": xiaoqu, "buildings": buildings, "lat": lat, "lon": lon}
    for key, value in (("aliases", aliases), ("landmarks", landmarks)):
        if value is not None:  # a form without the field keeps the grid's own
            row[key] = value
    try:
        grid_import.import_grids(unit, [row], request.app.state.settings.place_lexicon_path)
    except DomainError as error:
        return _back(str(error).replace("第 1 行：", ""), "error", section="grids")
    return _back(f"已保存网格 {code.strip()}", section="grids")


@router.post("/staff")
def save_staff(name: str = Form(...), public_name: str = Form(""),
               role: StaffRole = Form(StaffRole.grid_worker), grid_code: str = Form(...),
               duty_phone: str = Form(""), telegram_user_id: str = Form(""),
               _user: UserView = Depends(admin_user), unit: UnitOfWork = Depends(uow)):
    row = {"name": name, "public_name": public_name, "role": role.value, "grid_code": grid_code,
           "duty_phone": duty_phone, "telegram_user_id": telegram_user_id}
    try:
        imports.import_staff(unit, [row])
    except imports.TableImportError as error:
        return _back(str(error).replace("第 2 行：", ""), "error", section="staff")
    unit.commit()
    return _back(f"已保存工作人员 {name.strip()}", section="staff")


@router.post("/staff/{staff_id}/toggle")
def toggle_staff(staff_id: int, field: str = Form(...), _user: UserView = Depends(admin_user),
                 unit: UnitOfWork = Depends(uow)):
    member = unit.session.get(Staff, staff_id)
    if member is None or field not in ("on_duty", "active"):
        raise HTTPException(404, "找不到该工作人员")
    setattr(member, field, not getattr(member, field))
    unit.commit()
    return _back(f"已更新 {member.name}", section="staff")


@router.post("/rules")
def add_rule(category: Category = Form(...), action: str = Form(...),
             staff_role: StaffRole = Form(...), _user: UserView = Depends(admin_user),
             unit: UnitOfWork = Depends(uow)):
    if action not in ("inform", "replace"):
        return _back("请选择规则动作：同时告知，或改由其办理", "error", section="rules")
    unit.session.add(RoutingRule(category=category, action=action, staff_role=staff_role,
                                 active=True))
    unit.commit()
    return _back("已添加派单规则", section="rules")


@router.post("/rules/{rule_id}/toggle")
def toggle_rule(rule_id: int, _user: UserView = Depends(admin_user),
                unit: UnitOfWork = Depends(uow)):
    rule = unit.session.get(RoutingRule, rule_id)
    if rule is None:
        raise HTTPException(404, "找不到该规则")
    rule.active = not rule.active
    unit.commit()
    return _back("已更新派单规则", section="rules")


@router.post("/limits")
def save_limit(category: Category = Form(...), urgent: bool = Form(False),
               ack_amount: str = Form(...), ack_unit: str = Form(...),
               resolve_amount: str = Form(...), resolve_unit: str = Form(...),
               user: UserView = Depends(admin_user), unit: UnitOfWork = Depends(uow)):
    from minsheng.services.limits import Limit

    try:
        ack = Limit(int(ack_amount), ack_unit)
        resolve = Limit(int(resolve_amount), resolve_unit)
    except ValueError:
        return _back("时限必须是正整数", "error", section="limits")
    except DomainError as error:
        return _back(str(error), "error", section="limits")
    if ack.working == resolve.working and ack.minutes > resolve.minutes:
        return _back("签收时限不能长于办结时限", "error", section="limits")
    row = unit.session.execute(
        select(TimeLimit).where(TimeLimit.category == category, TimeLimit.urgent == urgent)
    ).scalar_one_or_none() or TimeLimit(category=category, urgent=urgent)
    row.ack_amount, row.ack_unit = ack.amount, ack.unit
    row.resolve_amount, row.resolve_unit = resolve.amount, resolve.unit
    unit.session.add(row)
    name = f"{category.label}{'（紧急）' if urgent else ''}"
    audit.record(unit, "time_limit_saved", actor=f"user:{user.id}",
                 target=f"time_limit:{category.value}:{'urgent' if urgent else 'normal'}",
                 detail=f"签收 {ack}，办结 {resolve}")
    unit.commit()
    return _back(f"已设置 {name} 的时限：签收 {ack}，办结 {resolve}", section="limits")


@router.post("/departments")
def save_department(name: str = Form(""), duty_phone: str = Form(""),
                    department_id: str = Form(""), user: UserView = Depends(admin_user),
                    unit: UnitOfWork = Depends(uow)):
    """Add a department (职能部门) or edit one's name and duty phone."""
    try:
        row = departments.save(unit, name, duty_phone,
                               int(department_id) if department_id.isdigit() else None,
                               actor=f"user:{user.id}")
    except DomainError as error:
        return _back(str(error), "error", section="departments")
    unit.commit()
    return _back(f"已保存部门 {row.name}", section="departments")


@router.post("/departments/{department_id}/toggle")
def toggle_department(department_id: int, user: UserView = Depends(admin_user),
                      unit: UnitOfWork = Depends(uow)):
    from minsheng.models import Department

    row = unit.session.get(Department, department_id)
    if row is None:
        raise HTTPException(404, "找不到该部门")
    departments.set_active(unit, department_id, not row.active, actor=f"user:{user.id}")
    unit.commit()
    return _back(f"已{'启用' if row.active else '停用'}部门 {row.name}", section="departments")


@router.post("/import")
async def import_file(request: Request, kind: str = Form(...), upload: UploadFile = File(...),
                      _user: UserView = Depends(admin_user), unit: UnitOfWork = Depends(uow)):
    data = await upload.read()
    try:
        rows = imports.read_rows(upload.filename or "", data)
        if kind == "grids":
            count = sum(grid_import.import_grids(
                unit, rows, request.app.state.settings.place_lexicon_path))
        elif kind == "staff":
            count = imports.import_staff(unit, rows)
        else:
            return _back("未知的导入类型", "error", section="import")
    except (imports.TableImportError, DomainError) as error:
        return _back(f"导入失败，未做任何修改：{error}", "error", section="import")
    unit.commit()
    return _back(f"已导入 {count} 行", section="import")
