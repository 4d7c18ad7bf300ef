"""延期, 退单 with a reason code, 加签 and 催办 on the console and through the JSON API."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import unquote

import pytest
from sqlalchemy import select

from minsheng.models import Case, CaseEvent
from minsheng.services import cases
from tests.web.conftest import login, open_case, post
from tests.web.test_staff_api import act, bearer, make_token


@pytest.fixture
def cli_db(db, monkeypatch):
    """The CLI works on the same SQLite file as the web app under test."""
    monkeypatch.setenv("MINSHENG_DATABASE_URL", db.url)
    return db


def flash(response) -> str:
    return unquote(response.headers["location"])


def view(db, case_no):
    with db.uow() as uow:
        return cases.get_case(uow, case_no)


def event_data(db, case_no, action):
    with db.uow() as uow:
        return [e.data for e in uow.session.execute(select(CaseEvent).join(Case).where(
            Case.case_no == case_no, CaseEvent.action == action)).scalars()]


@pytest.fixture
def mine(db, world):
    return open_case(db, "楼道堆满杂物", "幸福小区", building="3号楼")


def test_an_extension_asked_on_the_console_and_approved_by_the_community(client, db, mine):
    login(client, "grid1")
    post(client, f"/cases/{mine}/act/acknowledge")
    page = client.get(f"/cases/{mine}").text
    assert 'id="form-request_extension"' in page and 'name="days"' in page
    assert 'id="form-approve_extension"' not in page
    refused = post(client, f"/cases/{mine}/act/request_extension", {"days": "99", "note": "x"})
    assert "error=" in flash(refused) and "1–30" in flash(refused)
    before = view(db, mine).resolve_deadline
    post(client, f"/cases/{mine}/act/request_extension", {"days": "2", "note": "等待物业配合"})
    assert view(db, mine).pending_extension == "2天：等待物业配合"
    assert 'id="form-approve_extension"' not in client.get(f"/cases/{mine}").text  # not self
    client.cookies.clear()
    login(client, "community")
    page = client.get(f"/cases/{mine}").text
    assert "待审批：2天：等待物业配合" in page and 'id="form-approve_extension"' in page
    done = post(client, f"/cases/{mine}/act/approve_extension", {"note": "同意"})
    assert "ok=" in flash(done)
    assert view(db, mine).resolve_deadline == before + timedelta(days=2)
    page = client.get(f"/cases/{mine}").text
    assert "同意延期" in page and "新的办结时限" in page and "申请延期" in page


@pytest.mark.parametrize(("data", "message"), [
    ({"reason_code": "lost"}, "请选择退单原因"),
    ({"reason_code": "other", "note": ""}, "请写明具体原因"),
    ({}, "请选择退单原因"),
])
def test_a_return_without_a_valid_reason_is_answered_not_failed(client, db, mine, data,
                                                                 message):
    login(client, "grid1")
    response = post(client, f"/cases/{mine}/act/return", data)
    assert response.status_code == 303 and message in flash(response)
    assert event_data(db, mine, "return") == []


def test_a_return_with_a_reason_code_from_the_console_select(client, db, world, mine):
    login(client, "grid1")
    page = client.get(f"/cases/{mine}").text
    assert '<option value="not_our_duty">不属于职责范围</option>' in page
    post(client, f"/cases/{mine}/act/return", {"reason_code": "duplicate", "note": "同 0003"})
    [data] = event_data(db, mine, "return")
    assert data["reason_code"] == "duplicate" and data["note"] == "同 0003"
    assert view(db, mine).assignee_id == world.community_staff_id


def test_a_cosigned_grid_sees_the_case_adds_notes_and_cannot_resolve(client, db, world, mine):
    login(client, "grid2")
    assert client.get(f"/cases/{mine}").status_code == 404  # not theirs yet
    client.cookies.clear()
    login(client, "grid1")
    post(client, f"/cases/{mine}/act/acknowledge")
    bad = post(client, f"/cases/{mine}/act/cosign", {"grid_code": "NOPE"})
    assert "没有网格编码" in flash(bad)
    post(client, f"/cases/{mine}/act/cosign", {"grid_code": "13010102"})
    assert event_data(db, mine, "cosign") == [{"grid_code": "13010102"}]
    client.cookies.clear()
    login(client, "grid2")
    assert mine in client.get("/cases").text
    page = client.get(f"/cases/{mine}").text
    assert "阳光第二网格" in page and 'id="form-progress"' in page
    assert 'id="form-resolve"' not in page
    post(client, f"/cases/{mine}/act/progress", {"note": "第二网格协助清运"})
    refused = post(client, f"/cases/{mine}/act/resolve", {"note": "好了"})
    assert refused.status_code == 403 or "error=" in flash(refused)
    assert view(db, mine).state == "in_progress"


def test_the_api_takes_reason_code_days_grid_code_and_urge(client, db, cli_db, world, mine,
                                                          capsys):
    worker, office = make_token(capsys, "grid1"), make_token(capsys, "community")
    client.cookies.clear()
    assert act(client, mine, worker, "urge").status_code == 403
    response = act(client, mine, office, "urge", "居民多次来电")
    assert response.status_code == 200 and response.json()["changed"] is True
    assert act(client, mine, office, "urge").json()["changed"] is False  # just urged
    assert act(client, mine, worker, "acknowledge").status_code == 200
    assert act(client, mine, worker, "request_extension", "等配件", days=0).status_code == 422
    assert act(client, mine, worker, "request_extension", "等配件", days=3).status_code == 200
    assert act(client, mine, office, "refuse_extension", "请先处理").status_code == 200
    assert act(client, mine, worker, "cosign", grid_code="13010102").status_code == 200
    assert act(client, mine, worker, "return", reason_code="bogus").status_code == 422
    response = act(client, mine, worker, "return", reason_code="not_this_grid")
    assert response.status_code == 200, response.text
    assert event_data(db, mine, "return")[0]["reason_code"] == "not_this_grid"
    actions = [e["action"] for e in client.get(f"/api/cases/{mine}",
                                                headers=bearer(office)).json()["events"]]
    assert {"urge", "request_extension", "refuse_extension", "cosign", "return"} <= set(actions)
