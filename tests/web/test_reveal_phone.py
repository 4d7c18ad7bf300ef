"""The resident's full phone: for the case's handler after 签收, each view in the timeline."""
from __future__ import annotations

from sqlalchemy import select

from minsheng.models import Case, CaseEvent
from tests.web.conftest import login, open_case, post


def phone_views(db, case_no: str) -> list[int]:
    with db.uow() as uow:
        return list(uow.session.execute(
            select(CaseEvent.actor_id).join(Case, Case.id == CaseEvent.case_id)
            .where(Case.case_no == case_no, CaseEvent.action == "phone_viewed")).scalars())


def test_the_handler_sees_the_full_phone_only_after_acknowledging_and_each_view_is_recorded(
        client, db, world):
    case_no = open_case(db, "楼道堆满杂物", "幸福小区", building="3号楼")
    login(client, "grid1")
    page = client.get(f"/cases/{case_no}").text
    assert "138****5678" in page and "13812345678" not in page and "查看完整电话" not in page
    refused = post(client, f"/cases/{case_no}/phone")
    assert refused.status_code == 303 and "13812345678" not in refused.text
    assert "签收工单后" in client.get(refused.headers["location"]).text

    post(client, f"/cases/{case_no}/act/acknowledge")
    assert "查看完整电话" in client.get(f"/cases/{case_no}").text
    shown = post(client, f"/cases/{case_no}/phone")
    assert shown.status_code == 200 and 'href="tel:13812345678"' in shown.text
    assert shown.headers["cache-control"] == "no-store"
    post(client, f"/cases/{case_no}/phone")
    assert phone_views(db, case_no) == [world.worker1_id, world.worker1_id]
    assert "13812345678" not in client.get(f"/cases/{case_no}").text  # not kept on the page


def test_an_office_login_in_scope_does_not_see_the_full_phone(client, db, world):
    case_no = open_case(db, "楼道堆满杂物", "幸福小区", building="3号楼")
    login(client, "admin")
    response = post(client, f"/cases/{case_no}/phone")
    assert response.status_code == 403
    assert phone_views(db, case_no) == []


def test_another_staff_login_above_the_case_still_sees_it_masked(client, db, world):
    case_no = open_case(db, "楼道堆满杂物", "幸福小区", building="3号楼")
    login(client, "grid1")
    post(client, f"/cases/{case_no}/act/acknowledge")
    client.cookies.clear()
    login(client, "community")  # a staff member of the community desk, not the handler
    page = client.get(f"/cases/{case_no}").text
    assert "138****5678" in page and "查看完整电话" not in page and "tel:" not in page
    refused = post(client, f"/cases/{case_no}/phone")
    assert "13812345678" not in refused.text
    assert phone_views(db, case_no) == []
    assert client.get(f"/api/cases/{case_no}").json()["phone_masked"] == "138****5678"
