"""The case desk: grid scope, the case page, staff actions, reassign, offline callback."""
import io

import pytest
from PIL import Image

from minsheng.services import cases
from tests.web.conftest import csrf_of, login, open_case, post

XSS = '<script>alert("x")</script>'


@pytest.fixture
def two_cases(db, world):
    mine = open_case(db, f"楼道堆满杂物 {XSS}", "幸福小区", building="3号楼", lat=38.041, lon=114.512)
    theirs = open_case(db, "路灯不亮", "阳光花园", category="livelihood")
    return mine, theirs


def state_of(db, case_no):
    with db.uow() as uow:
        return cases.get_case(uow, case_no).state


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, "PNG")
    return out.getvalue()


def resolve_with_photo(client, case_no, data):
    return client.post(f"/cases/{case_no}/act/resolve",
                       data={**data, "csrftoken": csrf_of(client)},
                       files={"photo": ("after.png", png(), "image/png")},
                       follow_redirects=False)


def test_a_grid_worker_sees_only_their_grids_cases(client, two_cases):
    mine, theirs = two_cases
    login(client, "grid1")
    page = client.get("/cases").text
    assert mine in page and theirs not in page


def test_a_grid_worker_opening_another_grids_case_by_url_gets_404(client, two_cases):
    _, theirs = two_cases
    login(client, "grid1")
    assert client.get(f"/cases/{theirs}").status_code == 404
    assert client.get(f"/api/cases/{theirs}").status_code == 404
    assert theirs not in client.get("/api/cases").text


def test_a_grid_worker_cannot_act_on_another_grids_case(client, db, two_cases):
    _, theirs = two_cases
    login(client, "grid1")
    response = post(client, f"/cases/{theirs}/act/acknowledge")
    assert response.status_code == 404
    assert state_of(db, theirs) == "assigned"


def test_the_community_and_the_street_see_every_grid_below_them(client, two_cases):
    for user in ("community", "street", "admin"):
        login(client, user)
        page = client.get("/cases").text
        assert all(no in page for no in two_cases), user


def test_html_in_the_description_is_escaped_on_the_desk_and_the_case_page(client, two_cases):
    mine, _ = two_cases
    login(client, "grid1")
    for url in ("/cases", f"/cases/{mine}"):
        page = client.get(url).text
        assert XSS not in page
        assert "&lt;script&gt;" in page


def test_the_case_page_has_the_timeline_and_a_map_link(client, two_cases):
    mine, _ = two_cases
    login(client, "grid1")
    page = client.get(f"/cases/{mine}").text
    for label in ("受理", "派单路由", "派单"):
        assert f"<strong>{label}</strong>" in page
    assert "uri.amap.com/marker?position=114.512,38.041" in page


def test_a_worker_handles_a_case_to_resolution_with_a_photo(client, db, two_cases, settings):
    mine, _ = two_cases
    login(client, "grid1")
    assert "ok=" in post(client, f"/cases/{mine}/act/acknowledge").headers["location"]
    assert state_of(db, mine) == "acknowledged"
    post(client, f"/cases/{mine}/act/progress", {"note": "已联系物业 <b>清理</b>"})
    response = client.post(f"/cases/{mine}/act/resolve",
                           data={"note": "杂物已清走", "csrftoken": csrf_of(client)},
                           files={"photo": ("after.png", png(), "image/png")},
                           follow_redirects=False)
    assert "ok=" in response.headers["location"]
    with db.uow() as uow:
        view = cases.get_case(uow, mine)
    assert view.state == "resolved" and len(view.photos) == 1
    page = client.get(f"/cases/{mine}").text
    assert "已联系物业 &lt;b&gt;清理&lt;/b&gt;" in page and "杂物已清走" in page
    photo = client.get(f"/cases/{mine}/photos/{view.photos[0].id}")
    assert photo.status_code == 200 and photo.content == png()


def test_resolving_with_a_non_image_changes_nothing(client, db, two_cases):
    mine, _ = two_cases
    login(client, "grid1")
    post(client, f"/cases/{mine}/act/acknowledge")
    response = client.post(f"/cases/{mine}/act/resolve",
                           data={"note": "好了", "csrftoken": csrf_of(client)},
                           files={"photo": ("x.png", b"MZ\x90\x00 not an image", "image/png")},
                           follow_redirects=False)
    assert "error=" in response.headers["location"]
    assert state_of(db, mine) == "acknowledged"


def test_an_illegal_transition_is_shown_as_a_chinese_message(client, db, two_cases):
    mine, _ = two_cases
    login(client, "grid1")
    response = post(client, f"/cases/{mine}/act/resolve", {"note": "直接办结"})
    from urllib.parse import unquote

    assert "不能办结" in unquote(response.headers["location"])
    assert state_of(db, mine) == "assigned"


def test_a_note_is_required_for_progress(client, db, two_cases):
    mine, _ = two_cases
    login(client, "grid1")
    post(client, f"/cases/{mine}/act/acknowledge")
    response = post(client, f"/cases/{mine}/act/progress", {"note": "  "})
    assert "error=" in response.headers["location"]


def test_the_community_reassigns_and_the_new_worker_sees_the_case(client, db, world, two_cases):
    mine, _ = two_cases
    login(client, "community")
    response = post(client, f"/cases/{mine}/reassign", {"to_staff_id": world.worker2_id})
    assert "ok=" in response.headers["location"]
    login(client, "grid2")
    assert client.get(f"/cases/{mine}").status_code == 200


def test_a_grid_worker_may_not_reassign(client, world, two_cases):
    mine, _ = two_cases
    login(client, "grid1")
    assert post(client, f"/cases/{mine}/reassign",
                {"to_staff_id": world.worker2_id}).status_code == 403


def test_an_offline_callback_records_the_rating_and_closes_the_case(client, db, two_cases):
    mine, _ = two_cases
    login(client, "grid1")
    post(client, f"/cases/{mine}/act/acknowledge")
    resolve_with_photo(client, mine, {"note": "已清理"})  # 乱堆乱放 needs a photo
    login(client, "community")  # the handler may not record their own 回访
    response = post(client, f"/cases/{mine}/callback",
                    {"rating": "basically_satisfied", "comment": "电话回访 <i>好</i>"})
    assert "ok=" in response.headers["location"]
    with db.uow() as uow:
        view = cases.get_case(uow, mine)
    assert view.state == "closed"
    assert (view.rating.value, view.rating.route) == ("basically_satisfied", "offline")
    assert "电话回访 &lt;i&gt;好&lt;/i&gt;" in client.get(f"/cases/{mine}").text


def test_filters_narrow_the_desk(client, two_cases):
    mine, theirs = two_cases
    login(client, "admin")
    page = client.get("/cases", params={"category": "livelihood"}).text
    assert theirs in page and mine not in page
    page = client.get("/cases", params={"grid": "13010101"}).text
    assert mine in page and theirs not in page
    page = client.get("/cases", params={"overdue": "true"}).text
    assert mine not in page and "没有符合条件的工单" in page
    assert client.get("/cases", params={"state": "<b>"}).status_code == 200


def test_the_console_resolve_form_asks_for_the_method_departments_and_required_photo(
        client, db, two_cases):
    from urllib.parse import unquote

    from minsheng.models import Department

    mine, _ = two_cases
    with db.uow() as uow:
        uow.session.add(Department(name="环卫所", duty_phone="0311-1", active=True))
        uow.commit()
    login(client, "grid1")
    post(client, f"/cases/{mine}/act/acknowledge")
    page = client.get(f"/cases/{mine}").text
    assert 'name="handling_method"' in page and "联席会议" in page and "环卫所" in page
    assert "照片（必填）" in page
    no_photo = post(client, f"/cases/{mine}/act/resolve", {"note": "好了",
                                                           "handling_method": "grid"})
    assert "须附一张处置后的现场照片" in unquote(no_photo.headers["location"])
    unknown = resolve_with_photo(client, mine, {"note": "好了", "handling_method": "magic"})
    assert "没有「magic」这种处理方式" in unquote(unknown.headers["location"])
    assert state_of(db, mine) == "acknowledged"
    done = resolve_with_photo(client, mine, {"note": "联席会议后清运",
                                             "handling_method": "joint_meeting"})
    assert "ok=" in done.headers["location"]
    assert "处理方式：联席会议" in client.get(f"/cases/{mine}").text
