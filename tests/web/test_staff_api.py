"""The staff JSON API with bearer tokens made by ``minsheng token create``, and the console
case page offering exactly the staff-action table's actions."""
from __future__ import annotations

import base64
import io
import re
from types import SimpleNamespace

import pytest
from PIL import Image
from sqlalchemy import select

from minsheng import cli, staff_actions
from minsheng.enums import FeedbackRoute, Rating
from minsheng.models import ApiToken, Case, CaseEvent, Department
from minsheng.services import cases
from tests.web.conftest import csrf_of, login, open_case, post


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, "PNG")
    return out.getvalue()


PHOTO = {"photos_base64": [base64.b64encode(png()).decode()]}  # 乱堆乱放 needs one at 办结


@pytest.fixture
def cli_db(db, monkeypatch):
    """The CLI works on the same SQLite file as the web app under test."""
    monkeypatch.setenv("MINSHENG_DATABASE_URL", db.url)
    return db


def make_token(capsys, username: str) -> str:
    capsys.readouterr()
    assert cli.main(["token", "create", "--username", username]) == 0
    out = capsys.readouterr()
    assert "只显示这一次" in out.err
    return out.out.strip()


@pytest.fixture
def two_cases(db, world):
    mine = open_case(db, "楼道堆满杂物", "幸福小区", building="3号楼")
    theirs = open_case(db, "路灯不亮", "阳光花园", category="livelihood")
    return mine, theirs


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def act(client, case_no: str, token: str, action: str, note: str = "", **extra):
    return client.post(f"/api/cases/{case_no}/actions", headers=bearer(token),
                       json={"action": action, "note": note, **extra})


def events(db, case_no: str, action: str) -> int:
    with db.uow() as uow:
        return len(uow.session.execute(
            select(CaseEvent.id).join(Case, Case.id == CaseEvent.case_id)
            .where(Case.case_no == case_no, CaseEvent.action == action)).all())


def test_a_token_from_the_cli_acknowledges_progresses_and_resolves_a_case_over_http(
        client, db, cli_db, two_cases, capsys):
    mine, _ = two_cases
    token = make_token(capsys, "grid1")
    with db.uow() as uow:  # only the hash is stored
        stored = uow.session.execute(select(ApiToken.token_hash)).scalars().all()
    assert len(stored) == 1 and token not in stored[0] and len(stored[0]) == 64
    for action, note, state in (("acknowledge", "", "acknowledged"),
                                ("progress", "已联系物业", "in_progress"),
                                ("resolve", "杂物已清走", "resolved")):
        client.cookies.clear()  # no CSRF cookie, no CSRF header: the token alone
        response = act(client, mine, token, action, note, **(PHOTO if action == "resolve" else {}))
        assert response.status_code == 200, response.text
        assert response.json() == {"case_no": mine, "action": action, "changed": True,
                                   "state": state,
                                   "label": staff_actions.STAFF_ACTIONS[action].label}
        assert client.get(f"/api/cases/{mine}", headers=bearer(token)).json()["state"] == state


def test_get_shows_the_state_and_once_rated_the_rating(client, db, cli_db, two_cases, capsys,
                                                       world):
    mine, _ = two_cases
    token = make_token(capsys, "grid1")
    detail = client.get(f"/api/cases/{mine}", headers=bearer(token)).json()
    assert (detail["state"], detail["rating"]) == ("assigned", None)
    act(client, mine, token, "acknowledge")
    act(client, mine, token, "resolve", "已清理", **PHOTO)
    with db.uow() as uow:
        cases.rate(uow, mine, Rating.satisfied, route=FeedbackRoute.offline,
                   staff_id=world.community_staff_id)  # the 回访 is not the handler's
        uow.commit()
    detail = client.get(f"/api/cases/{mine}", headers=bearer(token)).json()
    assert (detail["state"], detail["rating"]) == ("closed", "satisfied")


def test_repeating_an_action_changes_nothing_and_records_no_second_event(
        client, db, cli_db, two_cases, capsys):
    mine, _ = two_cases
    token = make_token(capsys, "grid1")
    first, second = (act(client, mine, token, "acknowledge") for _ in range(2))
    assert first.json()["changed"] is True
    assert second.status_code == 200 and second.json()["changed"] is False
    assert events(db, mine, "acknowledge") == 1
    first, second = (act(client, mine, token, "escalate", "需要网格长协调") for _ in range(2))
    assert (first.json()["changed"], second.status_code, second.json()["changed"]) == (
        True, 200, False)
    assert events(db, mine, "escalate") == 1


def test_another_grids_case_is_out_of_scope_and_looks_missing(client, db, cli_db, two_cases,
                                                              capsys):
    _, theirs = two_cases
    token = make_token(capsys, "grid1")
    response = act(client, theirs, token, "acknowledge")
    assert response.status_code == 404 and "找不到" in response.json()["detail"]
    assert client.get(f"/api/cases/{theirs}", headers=bearer(token)).status_code == 404
    assert events(db, theirs, "acknowledge") == 0


def test_a_case_in_scope_but_not_the_workers_own_is_refused_with_403(client, db, cli_db,
                                                                      two_cases, capsys):
    mine, _ = two_cases
    token = make_token(capsys, "grid1")
    assert act(client, mine, token, "escalate").json()["state"] == "assigned"  # to the leader
    response = act(client, mine, token, "acknowledge")
    assert response.status_code == 403 and "无权" in response.json()["detail"]
    street = make_token(capsys, "street")  # a login with no staff member behind it
    assert act(client, mine, street, "acknowledge").status_code == 403


def test_a_state_the_lifecycle_refuses_is_a_409_with_a_chinese_detail(client, cli_db,
                                                                      two_cases, capsys):
    mine, _ = two_cases
    token = make_token(capsys, "grid1")
    response = act(client, mine, token, "resolve", "直接办结")
    assert response.status_code == 409
    assert "不能办结" in response.json()["detail"]


def test_an_unknown_action_or_a_missing_note_is_a_422(client, cli_db, two_cases, capsys):
    mine, _ = two_cases
    token = make_token(capsys, "grid1")
    unknown = act(client, mine, token, "delete")
    assert unknown.status_code == 422 and "没有「delete」这个操作" in unknown.text
    act(client, mine, token, "acknowledge")
    missing = act(client, mine, token, "resolve", "   ")
    assert missing.status_code == 422 and "请填写办结说明" in missing.json()["detail"]


def test_no_token_a_bad_token_and_a_revoked_token_are_401(client, db, cli_db, two_cases,
                                                          capsys):
    mine, _ = two_cases
    token = make_token(capsys, "grid1")
    assert client.post(f"/api/cases/{mine}/actions",
                       json={"action": "acknowledge"}).status_code in (401, 403)
    for bad in ("not-a-token", token + "x"):
        response = act(client, mine, bad, "acknowledge")
        assert response.status_code == 401 and response.headers["www-authenticate"]
        assert client.get(f"/api/cases/{mine}", headers=bearer(bad)).status_code == 401
    assert cli.main(["token", "revoke", "--username", "grid1"]) == 0
    assert "1 个令牌" in capsys.readouterr().out
    assert act(client, mine, token, "acknowledge").status_code == 401
    assert events(db, mine, "acknowledge") == 0


def test_a_bad_token_never_falls_back_to_the_session_cookie(client, db, two_cases):
    mine, _ = two_cases
    login(client, "grid1")
    assert client.get(f"/api/cases/{mine}").status_code == 200  # the cookie alone works
    assert client.get(f"/api/cases/{mine}", headers=bearer("forged")).status_code == 401
    response = act(client, mine, "forged", "acknowledge")
    assert response.status_code == 401 and events(db, mine, "acknowledge") == 0


def test_cookie_authenticated_requests_still_need_the_csrf_token(client, db, two_cases):
    mine, _ = two_cases
    login(client, "grid1")
    response = client.post(f"/api/cases/{mine}/actions", json={"action": "acknowledge"})
    assert response.status_code == 403 and "刷新" in response.text
    form = client.post(f"/cases/{mine}/act/acknowledge", follow_redirects=False)
    assert form.status_code == 403 and "刷新" in form.text
    assert events(db, mine, "acknowledge") == 0
    with_header = client.post(f"/api/cases/{mine}/actions", json={"action": "acknowledge"},
                              headers={"X-CSRFToken": client.cookies["csrftoken"]})
    assert with_header.status_code == 200


def test_the_community_reassigns_over_the_api_only_within_its_scope(
        client, db, cli_db, world, two_cases, capsys):
    mine, _ = two_cases
    community, grid1 = make_token(capsys, "community"), make_token(capsys, "grid1")
    assert act(client, mine, grid1, "reassign", to_staff_id=world.worker2_id).status_code == 403
    response = act(client, mine, community, "reassign", to_staff_id=world.worker2_id)
    assert response.status_code == 200 and response.json()["changed"] is True
    with db.uow() as uow:
        assert cases.get_case(uow, mine).assignee_name == "李网格员"


def form_ids(page: str) -> set[str]:
    return set(re.findall(r'id="form-([a-z_]+)"', page)) - {"callback"}


def test_the_console_case_page_offers_exactly_the_tables_actions_for_the_state(
        client, db, two_cases):
    mine, _ = two_cases
    login(client, "grid1")
    for step, state in ((None, "assigned"), ("acknowledge", "acknowledged"),
                        ("progress", "in_progress"), ("resolve", "resolved")):
        if step == "resolve":
            client.post(f"/cases/{mine}/act/resolve", follow_redirects=False,
                        data={"note": "处理完毕", "handling_method": "grid",
                              "csrftoken": csrf_of(client)},
                        files={"photo": ("after.png", png(), "image/png")})
        elif step:
            post(client, f"/cases/{mine}/act/{step}", {"note": "处理中"})
        with db.uow() as uow:
            assert cases.get_case(uow, mine).state == state
        expected = {a.key for a in staff_actions.offered_to(
            SimpleNamespace(state=state), staff_actions.CONSOLE, "owner")}
        assert form_ids(client.get(f"/cases/{mine}").text) == expected, state
    assert expected == set()


def test_an_office_login_also_gets_the_tables_reassign_form(client, two_cases):
    mine, _ = two_cases
    login(client, "community")
    page = client.get(f"/cases/{mine}").text
    expected = {a.key for a in staff_actions.offered_to(
        SimpleNamespace(state="assigned"), "console", "supervisor", office=True)}
    assert {"reassign", "urge"} <= expected and form_ids(page) == expected
    assert f'action="/cases/{mine}/act/reassign"' in page


def test_resolve_over_the_api_records_the_method_and_refuses_what_is_missing(
        client, db, cli_db, two_cases, capsys):
    mine, _ = two_cases
    token = make_token(capsys, "grid1")
    with db.uow() as uow:
        uow.session.add(Department(name="城管执法中队", duty_phone="12319", active=True))
        uow.commit()
        department_id = uow.session.execute(select(Department.id)).scalar_one()
    act(client, mine, token, "acknowledge")
    refusals = (({"handling_method": "by_magic", **PHOTO}, "没有「by_magic」这种处理方式"),
                ({"handling_method": "grid"}, "「乱堆乱放」类工单办结须附一张处置后的现场照片"),
                ({"handling_method": "street_whistle", **PHOTO}, "须选择报到的职能部门"),
                ({"handling_method": "grid", "photos_base64": ["not base64!"]}, "办结照片无法使用"))
    for extra, message in refusals:
        response = act(client, mine, token, "resolve", "已清理", **extra)
        assert response.status_code == 422 and message in response.json()["detail"], extra
    assert events(db, mine, "resolve") == 0
    response = act(client, mine, token, "resolve", "街道吹哨，城管清运", **PHOTO,
                   handling_method="street_whistle", department_ids=[department_id])
    assert response.status_code == 200, response.text
    detail = client.get(f"/api/cases/{mine}", headers=bearer(token)).json()
    assert detail["handling_method"] == "street_whistle" and detail["photo_count"] == 1
    assert detail["events"][-1]["detail"] == "处理方式：街道吹哨；部门：城管执法中队"
    login(client, "grid1")
    assert "处理方式：街道吹哨；部门：城管执法中队" in client.get(f"/cases/{mine}").text
