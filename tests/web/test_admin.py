"""Grid, staff, routing rules and time limits: edits and imports (admin only)."""
import io

from openpyxl import Workbook
from sqlalchemy import select

from minsheng.enums import Category, StaffRole
from minsheng.models import AuditEntry, Department, Grid, RoutingRule, Staff, TimeLimit
from tests.web.conftest import csrf_of, login, post


def upload(client, kind, name, data):
    return client.post("/admin/import", data={"kind": kind, "csrftoken": csrf_of(client)},
                       files={"upload": (name, data)}, follow_redirects=False)


def test_a_grid_worker_cannot_edit_the_grid_tree(client, db):
    login(client, "grid1")
    response = post(client, "/admin/grids", {"code": "X1", "name": "x", "level": "grid"})
    assert response.status_code == 403
    with db.uow() as uow:
        assert uow.session.execute(select(Grid).where(Grid.code == "X1")).first() is None


def test_a_community_account_may_not_edit_either(client):
    login(client, "community")
    assert post(client, "/admin/rules", {"category": "clutter", "action": "inform",
                                         "staff_role": "enforcement"}).status_code == 403


def test_an_admin_adds_a_grid_under_a_parent(client, db, world):
    login(client, "admin")
    response = post(client, "/admin/grids", {"code": "1301010103", "name": "新网格",
                                             "level": "micro_grid", "parent_code": "13010101",
                                             "xiaoqu": "幸福小区；新区", "lat": "38.1", "lon": "114.5"})
    assert "ok=" in response.headers["location"]
    with db.uow() as uow:
        grid = uow.session.execute(select(Grid).where(Grid.code == "1301010103")).scalar_one()
        assert grid.parent_id == world.grid1_id and grid.xiaoqu == ["幸福小区", "新区"]


def test_the_grid_form_offers_and_saves_aliases_and_landmarks(client, db, world):
    login(client, "admin")
    page = client.get("/admin?section=grids").text
    assert 'name="aliases"' in page and 'name="landmarks"' in page
    response = post(client, "/admin/grids", {"code": "1301010104", "name": "菜场网格",
                                             "level": "micro_grid", "parent_code": "13010101",
                                             "xiaoqu": "阳光花园小区", "aliases": "阳光=阳光花园小区",
                                             "landmarks": "东风菜市场；建设路"})
    assert "ok=" in response.headers["location"]
    with db.uow() as uow:
        grid = uow.session.execute(select(Grid).where(Grid.code == "1301010104")).scalar_one()
        assert grid.landmarks == ["东风菜市场", "建设路"] and grid.aliases == ["阳光=阳光花园小区"]


def test_a_grid_with_an_unknown_parent_is_refused(client, db):
    login(client, "admin")
    response = post(client, "/admin/grids", {"code": "Z", "name": "z", "level": "grid",
                                             "parent_code": "nope"})
    assert "error=" in response.headers["location"]


def test_a_csv_staff_import_upserts_rows(client, db, world):
    login(client, "admin")
    csv_text = ("name,public_name,role,grid_code,duty_phone,telegram_user_id\n"
                "王芳,王网格员,grid_leader,13010101,0311-7654321,\n"
                "周杰,周网格员,grid_worker,13010102,,7000001\n")
    response = upload(client, "staff", "staff.csv", csv_text.encode("utf-8-sig"))
    assert "ok=" in response.headers["location"]
    with db.uow() as uow:
        wang = uow.session.get(Staff, world.worker1_id)
        assert wang.role == StaffRole.grid_leader and wang.duty_phone == "0311-7654321"
        zhou = uow.session.execute(select(Staff).where(Staff.name == "周杰")).scalar_one()
        assert zhou.telegram_user_id == 7000001


def test_an_xlsx_grid_import_with_one_bad_row_changes_nothing(client, db):
    book = Workbook()
    sheet = book.active
    sheet.append(["code", "name", "level", "parent_code"])
    sheet.append(["13010199", "好网格", "grid", "130101"])
    sheet.append(["13010198", "坏网格", "planet", "130101"])
    data = io.BytesIO()
    book.save(data)
    login(client, "admin")
    response = upload(client, "grids", "grids.xlsx", data.getvalue())
    assert "error=" in response.headers["location"]
    with db.uow() as uow:
        assert uow.session.execute(select(Grid).where(Grid.code == "13010199")).first() is None


def test_a_routing_rule_is_added_and_toggled(client, db):
    login(client, "admin")
    post(client, "/admin/rules", {"category": "public_order", "action": "inform",
                                  "staff_role": "police_liaison"})
    with db.uow() as uow:
        rule = uow.session.execute(select(RoutingRule)).scalar_one()
        rule_id, active = rule.id, rule.active
    assert active
    post(client, f"/admin/rules/{rule_id}/toggle")
    with db.uow() as uow:
        assert uow.session.get(RoutingRule, rule_id).active is False


def test_a_time_limit_override_is_stored_with_its_unit_and_nonsense_refused(client, db):
    login(client, "admin")
    ok = post(client, "/admin/limits", {"category": "sanitation", "ack_amount": 1,
                                        "ack_unit": "working_hours", "resolve_amount": 3,
                                        "resolve_unit": "working_days"})
    assert "3%20%E5%B7%A5%E4%BD%9C%E6%97%A5" in ok.headers["location"]  # "3 工作日"
    for bad in ({"ack_amount": 600, "ack_unit": "hours", "resolve_amount": 60,
                 "resolve_unit": "minutes"},
                {"ack_amount": "two", "ack_unit": "hours", "resolve_amount": 1,
                 "resolve_unit": "working_days"},
                {"ack_amount": 1, "ack_unit": "fortnights", "resolve_amount": 1,
                 "resolve_unit": "working_days"}):
        response = post(client, "/admin/limits", {"category": "sanitation", **bad})
        assert "error=" in response.headers["location"], bad
    with db.uow() as uow:
        row = uow.session.execute(select(TimeLimit)).scalar_one()
        assert (row.category, row.urgent, row.ack_amount, row.ack_unit, row.resolve_amount,
                row.resolve_unit) == (Category.sanitation, False, 1, "working_hours", 3,
                                      "working_days")
        audited = uow.session.execute(select(AuditEntry).where(
            AuditEntry.action == "time_limit_saved")).scalar_one()
        assert audited.detail == "签收 1 工作小时，办结 3 工作日"


def test_the_overview_shows_the_tree_staff_and_effective_limits(client, db):
    login(client, "admin")
    post(client, "/admin/limits", {"category": "dispute", "urgent": "true", "ack_amount": 15,
                                   "ack_unit": "minutes", "resolve_amount": 2,
                                   "resolve_unit": "hours"})
    assert "幸福第一网格" in client.get("/admin").text  # the first tab: the grid tree
    assert "王网格员" in client.get("/admin", params={"section": "staff"}).text
    page = client.get("/admin", params={"section": "limits"}).text
    assert page.count("自定义") == 1  # one override; the other 13 rows show the defaults
    assert "2 工作日" in page and "15 分钟" in page  # sanitation's default; the override
    assert "2880" not in page  # no longer shown in minutes


def test_departments_are_added_edited_and_deactivated_by_the_admin(client, db):
    login(client, "admin")
    post(client, "/admin/departments", {"name": "城管执法中队", "duty_phone": "12319"})
    dup = post(client, "/admin/departments", {"name": "城管执法中队"})
    assert "error=" in dup.headers["location"]
    assert "error=" in post(client, "/admin/departments", {"name": " "}).headers["location"]
    with db.uow() as uow:
        department_id = uow.session.execute(select(Department.id)).scalar_one()
    post(client, "/admin/departments", {"department_id": department_id, "name": "城管执法大队",
                                        "duty_phone": "0311-12319"})
    toggled = post(client, f"/admin/departments/{department_id}/toggle")
    assert toggled.headers["location"].startswith("/admin?section=departments&ok=")
    assert "城管执法大队" in client.get(toggled.headers["location"]).text
    with db.uow() as uow:
        row = uow.session.get(Department, department_id)
        assert (row.name, row.duty_phone, row.active) == ("城管执法大队", "0311-12319", False)
        actions = list(uow.session.execute(select(AuditEntry.action).where(
            AuditEntry.target == f"department:{department_id}")).scalars())
    assert actions == ["department_saved", "department_saved", "department_deactivated"]
    login(client, "community")
    refused = post(client, "/admin/departments", {"name": "住建局"})
    assert refused.status_code == 403


def test_a_community_sees_only_its_part_of_the_tree_and_no_edit_forms(client, world):
    login(client, "community")
    page = client.get("/admin").text
    assert "幸福社区" in page and "和平街道" not in page
    assert 'action="/admin/grids"' not in page


def test_html_in_grid_and_staff_names_is_escaped(client):
    login(client, "admin")
    post(client, "/admin/grids", {"code": "13010109", "name": "<b>网格</b>", "level": "grid",
                                  "parent_code": "130101", "xiaoqu": "<i>小区</i>"})
    post(client, "/admin/staff", {"name": "<script>x</script>", "grid_code": "13010109"})
    page = client.get("/admin").text + client.get("/admin?section=staff").text
    assert "<b>网格</b>" not in page and "&lt;b&gt;网格&lt;/b&gt;" in page
    assert "<script>x</script>" not in page and "&lt;i&gt;小区&lt;/i&gt;" in page
