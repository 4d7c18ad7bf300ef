"""The console's pages as a grid worker and an office use them: 待办 first, tabs, the
grid list, the case page's actions and timeline, the admin tabs and the intake's place."""
from datetime import timedelta
from urllib.parse import unquote

import pytest
from sqlalchemy import select, update

from minsheng.clock import utcnow
from minsheng.models import Case
from minsheng.services import cases
from tests.web.conftest import login, open_case, post


@pytest.fixture
def desk(db, world):
    """Grid 1: a case due later, one overdue, one resolved; grid 2: one case."""
    later = open_case(db, "楼道堆着旧沙发", "幸福小区", building="2号楼")
    late = open_case(db, "垃圾桶满了三天", "幸福小区", category="sanitation")
    done = open_case(db, "电动车停在楼道", "幸福小区")
    theirs = open_case(db, "路灯不亮", "阳光花园", category="livelihood", channel="web")
    now = utcnow()
    with db.uow() as uow:
        uow.session.execute(update(Case).where(Case.case_no == late).values(
            resolve_deadline=now - timedelta(hours=1)))
        uow.session.execute(update(Case).where(Case.case_no == later).values(
            resolve_deadline=now + timedelta(days=2)))
        cases.acknowledge(uow, done, world.worker1_id)
        cases.resolve(uow, done, world.worker1_id, "已清走", photos=["after.jpg"])
        uow.commit()
    return {"later": later, "late": late, "done": done, "theirs": theirs}


def listed(page: str) -> list[str]:
    """Case numbers in the order the desk lists them."""
    body = page.split('id="case-list"')[1].split("</table>")[0]
    return [part.split('"')[0] for part in body.split('href="/cases/')[1:]]


def test_a_grid_worker_lands_on_their_open_cases_overdue_first(client, desk):
    login(client, "grid1")
    page = client.get("/cases").text
    assert 'id="tab-todo" aria-current="page"' in page
    assert listed(page) == [desk["late"], desk["later"]]  # overdue, then by deadline
    everything = client.get("/cases", params={"view": "all"}).text
    assert set(listed(everything)) == {desk["later"], desk["late"], desk["done"]}


def test_an_office_lands_on_everything_and_has_no_todo_tab_without_a_staff_member(
        client, desk):
    login(client, "street")
    page = client.get("/cases").text
    assert 'id="tab-all" aria-current="page"' in page and 'id="tab-todo"' not in page
    assert len(listed(page)) == 4
    overdue = client.get("/cases", params={"view": "overdue"}).text
    assert listed(overdue) == [desk["late"]]


def test_the_grid_filter_takes_a_grid_name_from_the_list(client, desk):
    login(client, "street")
    page = client.get("/cases").text
    assert '<datalist id="grid-names">' in page and '<option value="阳光第二网格">' in page
    by_name = client.get("/cases", params={"view": "all", "grid": "阳光第二网格"}).text
    assert listed(by_name) == [desk["theirs"]]
    by_code = client.get("/cases", params={"view": "all", "grid": "13010102"}).text
    assert listed(by_code) == [desk["theirs"]]


def test_a_grid_worker_sees_only_their_own_grids_in_the_list(client, desk):
    login(client, "grid1")
    page = client.get("/cases").text
    names = page.split('<datalist id="grid-names">')[1].split("</datalist>")[0]
    assert '<option value="幸福第一网格">' in names and "阳光第二网格" not in page


def test_the_case_page_folds_all_but_the_next_step(client, desk):
    login(client, "grid1")
    page = client.get(f"/cases/{desk['later']}").text
    actions = page.split('class="actions"')[1]
    front, folded = actions.split('id="more-actions"')
    assert 'id="do-acknowledge"' in front and 'id="do-return"' not in front
    assert 'id="do-return"' in folded and "更多操作" in folded
    post(client, f"/cases/{desk['later']}/act/acknowledge")
    page = client.get(f"/cases/{desk['later']}").text
    front, folded = page.split('class="actions"')[1].split('id="more-actions"')
    assert 'id="do-resolve"' in front and 'class="staff-action primary"' in front
    assert 'id="do-progress"' in folded and 'id="do-resolve"' not in folded


def test_reassign_starts_on_please_choose_and_the_timeline_speaks_words(client, db, desk):
    login(client, "community")
    page = client.get(f"/cases/{desk['theirs']}").text
    select_box = page.split('name="to_staff_id"')[1].split("</select>")[0]
    assert select_box.split("<option")[1].startswith(' value="">请选择')
    assert "selected" not in select_box
    timeline = page.split('id="timeline"')[1]
    assert "渠道：网页" in timeline and "渠道：web" not in timeline
    with db.uow() as uow:
        before = cases.get_case(uow, desk["theirs"]).assignee_id
    refused = post(client, f"/cases/{desk['theirs']}/act/reassign", {"to_staff_id": ""})
    assert "error=" in refused.headers["location"]  # left on 请选择: nobody is chosen
    with db.uow() as uow:
        assert cases.get_case(uow, desk["theirs"]).assignee_id == before


def test_admin_sections_are_tabs_and_limits_read_in_working_days(client, world):
    login(client, "admin")
    first = client.get("/admin").text
    assert 'id="tab-grids" aria-current="page"' in first
    assert 'id="grid-tree"' in first and 'id="limits"' not in first and 'id="staff"' not in first
    limits = client.get("/admin", params={"section": "limits"}).text
    assert 'id="limits"' in limits and 'id="grid-tree"' not in limits
    assert "2 工作日" in limits and "2 工作小时" in limits and "30 分钟" in limits
    assert "style=" not in first + limits  # our CSP blocks inline styles
    saved = post(client, "/admin/limits", {"category": "clutter", "ack_amount": 1,
                                           "ack_unit": "working_hours", "resolve_amount": 4,
                                           "resolve_unit": "working_days"})
    assert saved.headers["location"].startswith("/admin?section=limits&ok=")
    assert "4 工作日" in client.get(saved.headers["location"]).text


def test_the_public_login_page_shows_no_commands(client):
    page = client.get("/login").text
    assert "minsheng user" not in page and "<code>" not in page


INTAKE = {"channel": "hotline", "category": "sanitation", "xiaoqu": "", "building": "",
          "unit": "", "room": "", "address": "", "phone": "13900001111", "name": "张阿姨"}


def test_intake_reads_the_place_from_the_description_as_the_chat_does(client, db):
    login(client, "grid1")
    response = post(client, "/cases/new", {**INTAKE, "nonce": "p-1", "step": "submit",
                                           "description": "阳光花园5号楼2单元门口垃圾没人收"})
    assert response.status_code == 303
    case_no = unquote(response.headers["location"]).split("已受理 ")[1].split("&")[0]
    with db.uow() as uow:
        view = cases.get_case(uow, case_no)
    assert (view.xiaoqu, view.building, view.unit) == ("阳光花园", "5号楼", "2单元")
    assert view.grid_code == "13010102"  # routed by the place it read


def test_intake_without_a_place_asks_for_one_or_address_unknown(client, db):
    login(client, "grid1")
    page = post(client, "/cases/new", {**INTAKE, "nonce": "p-2", "step": "submit",
                                       "description": "有人在路边乱扔垃圾"})
    assert page.status_code == 400
    assert 'role="alert"' in page.text and "地址不详" in page.text
    with db.uow() as uow:
        assert uow.session.execute(select(Case.id)).first() is None
    unknown = post(client, "/cases/new", {**INTAKE, "nonce": "p-3", "step": "submit",
                                          "description": "有人在路边乱扔垃圾", "no_address": "1"})
    assert unknown.status_code == 303


def test_the_suggest_step_fills_the_place_fields_for_staff_to_check(client, rasa):
    login(client, "grid1")
    page = client.post("/cases/new", data={**INTAKE, "nonce": "p-4", "step": "suggest",
                                           "description": "幸福小区3号楼楼道堆满杂物",
                                           "csrftoken": client.cookies["csrftoken"]}).text
    assert 'id="intake-place-read"' in page
    assert 'name="xiaoqu" value="幸福小区"' in page and 'name="building" value="3号楼"' in page
    assert 'style="' not in page
