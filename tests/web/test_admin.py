"""Grid, staff, routing rules and time limits: edits and imports (admin only)."""
import io

from openpyxl import Workbook
from sqlalchemy import select

from minsheng.enums import Category, StaffRole
from minsheng.models import Grid, RoutingRule, Staff, TimeLimit
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


def test_a_time_limit_override_is_stored_and_nonsense_refused(client, db):
    login(client, "admin")
    post(client, "/admin/limits", {"category": "sanitation", "ack_minutes": 60,
                                   "resolve_minutes": 1440})
    bad = post(client, "/admin/limits", {"category": "sanitation", "ack_minutes": 600,
                                         "resolve_minutes": 60})
    assert "error=" in bad.headers["location"]
    with db.uow() as uow:
        row = uow.session.execute(select(TimeLimit)).scalar_one()
        assert (row.category, row.urgent, row.ack_minutes, row.resolve_minutes) == (
            Category.sanitation, False, 60, 1440)


def test_the_overview_shows_the_tree_staff_and_effective_limits(client, db):
    login(client, "admin")
    post(client, "/admin/limits", {"category": "dispute", "urgent": "true", "ack_minutes": 15,
                                   "resolve_minutes": 120})
    page = client.get("/admin").text
    assert "幸福第一网格" in page and "王网格员" in page
    assert page.count("自定义") == 1  # one override; the other 13 rows show the defaults
    assert 'value="2880"' in page  # sanitation: 48 h by default


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
    page = client.get("/admin").text
    assert "<b>网格</b>" not in page and "&lt;b&gt;网格&lt;/b&gt;" in page
    assert "<script>x</script>" not in page and "&lt;i&gt;小区&lt;/i&gt;" in page
