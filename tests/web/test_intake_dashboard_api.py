"""Staff-entered cases with a category suggestion; dashboard, exports and the JSON API
against ``stats.report`` for the same period."""
import csv
import io
from datetime import timedelta
from urllib.parse import unquote

import pytest
from openpyxl import load_workbook

from minsheng.clock import to_local, utcnow
from minsheng.models import NluMessage
from minsheng.services import cases, stats
from tests.web.conftest import csrf_of, login, open_case, post

INTAKE = {"channel": "hotline", "description": "幸福小区东门垃圾三天没人收", "category": "",
          "xiaoqu": "幸福小区", "building": "", "unit": "", "room": "", "address": "东门",
          "phone": "13900001111", "name": "张阿姨", "nonce": "n-1"}


def today():
    return to_local(utcnow(), "Asia/Shanghai").date()


@pytest.fixture
def history(client, db, world):
    """Three cases: one closed satisfied, one resolved, one still open."""
    nos = [open_case(db, "楼道堆满杂物", "幸福小区", building="1号楼"),
           open_case(db, "垃圾没人收", "幸福小区", category="sanitation"),
           open_case(db, "路灯不亮", "阳光花园", category="livelihood", channel="hotline")]
    with db.uow() as uow:
        for no in nos[:2]:
            cases.acknowledge(uow, no, world.worker1_id)
            cases.resolve(uow, no, world.worker1_id, "已处理", photos=["after.jpg"])
        # the 回访 is made by someone who did not handle the case
        cases.rate(uow, nos[0], "satisfied", "offline", staff_id=world.community_staff_id)
        uow.commit()
    return nos


def test_the_suggestion_preselects_the_classifiers_category(client, rasa):
    login(client, "grid1")
    page = client.post("/cases/new", data={**INTAKE, "step": "suggest",
                                           "csrftoken": csrf_of(client)}).text
    assert rasa.parsed == [INTAKE["description"]]
    assert "系统建议：环境卫生 90%" in page
    assert '<option value="sanitation" selected>' in page


def test_the_form_still_works_when_rasa_is_down(client, rasa):
    rasa.stop()
    login(client, "grid1")
    page = client.post("/cases/new", data={**INTAKE, "step": "suggest",
                                           "csrftoken": csrf_of(client)}).text
    assert "暂时无法自动识别" in page


def test_a_staff_entered_case_is_opened_on_the_hotline_channel(client, db):
    login(client, "grid1")
    response = post(client, "/cases/new", {**INTAKE, "category": "sanitation",
                                           "step": "submit"})
    assert response.status_code == 303
    case_no = unquote(response.headers["location"]).split("/cases/")[1].split("?")[0]
    with db.uow() as uow:
        view = cases.get_case(uow, case_no)
    assert (view.channel, view.category, view.grid_code) == ("hotline", "sanitation", "13010101")
    again = post(client, "/cases/new", {**INTAKE, "category": "sanitation", "step": "submit"})
    assert case_no in unquote(again.headers["location"])  # same form twice: one case


def test_changing_the_suggested_category_is_logged_for_nlu_review(client, db):
    login(client, "grid1")
    post(client, "/cases/new", {**INTAKE, "category": "clutter", "predicted": "sanitation",
                                "confidence": "0.900", "step": "submit"})
    with db.uow() as uow:
        row = uow.session.query(NluMessage).one()
        assert (row.predicted_label, row.corrected_label) == ("sanitation", "clutter")


def test_html_in_intake_fields_is_escaped_when_the_form_comes_back(client):
    login(client, "grid1")
    page = client.post("/cases/new", data={**INTAKE, "description": '<img src=x onerror=1>',
                                           "name": '"><script>1</script>', "step": "submit",
                                           "csrftoken": csrf_of(client)}).text
    assert "请选择渠道和问题类别" in page
    assert "<img src=x" not in page and "<script>1</script>" not in page


def test_the_dashboard_shows_the_same_numbers_as_the_report(client, db, history):
    login(client, "street")
    page = client.get("/dashboard").text
    with db.uow() as uow:
        rep = stats.report(uow, today() - timedelta(days=29), today())
    assert rep.overall.accepted == 3 and rep.overall.resolved == 2
    assert f'<span class="big" id="m-accepted">{rep.overall.accepted}</span>' in page
    assert f'<span class="big" id="m-resolved">{rep.overall.resolved}</span>' in page
    assert f'id="m-closure">{stats.pct(rep.overall.closure_rate)}<' in page
    assert f'id="m-satisfaction">{stats.pct(rep.overall.satisfaction)}<' in page
    assert stats.format_report(rep).splitlines()[1] in page


def test_a_grid_worker_sees_the_dashboard_of_their_own_grid_only(client, history):
    login(client, "grid1")  # 幸福第一网格: two of the three cases
    assert client.get("/dashboard").status_code == 200
    body = client.get("/api/stats").json()
    assert body["overall"]["accepted"] == 2
    assert [u["key"] for u in body["ranking"]["grid"]] == ["13010101"]


def test_the_csv_and_xlsx_exports_carry_the_report_rows(client, db, history):
    login(client, "admin")
    start, end = today() - timedelta(days=6), today()
    params = {"from": start.isoformat(), "to": end.isoformat()}
    text = client.get("/dashboard/export.csv", params=params).content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["维度", "项目", "受理", "办结", "办结率", "满意度", "按时办结率", "响应率",
                       "解决率", "签收率", "重办率", "退单率", "催办率", "延期率", "排名"]
    assert rows[1][:4] == ["合计", "全部", "3", "2"]
    assert ["按渠道", "热线电话", "1", "0"] == rows[-6][:4] or any(
        r[:4] == ["按渠道", "热线电话", "1", "0"] for r in rows)
    book = load_workbook(io.BytesIO(client.get("/dashboard/export.xlsx", params=params).content))
    sheet = list(book.active.iter_rows(values_only=True))
    assert sheet[2][:4] == ("合计", "全部", 3, 2)


def test_a_reversed_period_is_refused_next_to_the_form(client, history):
    login(client, "admin")
    response = client.get("/dashboard", params={"from": "2026-02-01", "to": "2026-01-01"})
    assert response.status_code == 422 and 'id="period"' in response.text
    assert 'role="alert">开始日期不能晚于结束日期' in response.text


def test_the_stats_api_equals_the_json_report(client, db, history):
    login(client, "admin")
    start, end = today() - timedelta(days=6), today()
    body = client.get("/api/stats", params={"from": start.isoformat(),
                                            "to": end.isoformat()}).json()
    with db.uow() as uow:
        assert body == stats.report_json(stats.report(uow, start, end))


def test_the_cases_api_pages_and_filters(client, history):
    login(client, "admin")
    body = client.get("/api/cases", params={"channel": "hotline"}).json()
    assert body["total"] == 1 and body["items"][0]["case_no"] == history[2]
    detail = client.get(f"/api/cases/{history[0]}").json()
    assert detail["state"] == "closed" and detail["rating_route"] == "offline"
    assert detail["phone_masked"] == "138****5678"
    assert [e["action"] for e in detail["events"]][:3] == ["open", "route", "assign"]


def test_the_api_answers_401_without_a_session(client):
    assert client.get("/api/cases").status_code == 401


def test_the_openapi_docs_list_the_api(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/cases", "/api/cases/{case_no}", "/api/stats"} <= set(paths)
    assert "/cases" not in paths  # console pages stay out of the API docs
