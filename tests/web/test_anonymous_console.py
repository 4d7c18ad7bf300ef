"""匿名反映 on the console: entered with the 匿名 box, and no page, API answer or sheet
shows the resident's name or phone — not even to the handler after 签收."""
from __future__ import annotations

from urllib.parse import unquote

import pypdfium2

from tests.web.conftest import login, post

NAME, DIGITS = "张阿姨", "1111"  # the caller and the end of her phone (13900001111)
INTAKE = {"channel": "hotline", "description": "幸福小区东门晚上有人聚众赌博",
          "category": "public_order", "xiaoqu": "幸福小区", "building": "", "unit": "",
          "room": "", "address": "东门", "phone": "13900001111", "name": NAME,
          "anonymous": "1", "nonce": "anon-1", "step": "submit"}


def entered(client, **changes) -> str:
    response = post(client, "/cases/new", {**INTAKE, **changes})
    assert response.status_code == 303, response.text
    return unquote(response.headers["location"]).split("/cases/")[1].split("?")[0]


def hides_identity(text: str) -> bool:
    return NAME not in text and "张*" not in text and DIGITS not in text


def test_the_intake_form_offers_the_box(client):
    login(client, "grid1")
    assert 'name="anonymous"' in client.get("/cases/new").text


def test_a_named_case_entered_the_same_way_does_show_the_masked_phone(client):
    login(client, "grid1")
    case_no = entered(client, anonymous="", nonce="named-1")
    assert "139****1111" in client.get(f"/cases/{case_no}").text  # the check can fail


def test_the_case_page_list_and_api_show_no_identity_even_to_the_handler(client):
    login(client, "grid1")
    case_no = entered(client)
    post(client, f"/cases/{case_no}/act/acknowledge")
    page = client.get(f"/cases/{case_no}").text
    assert "匿名反映" in page and hides_identity(page) and "查看完整电话" not in page
    assert case_no in client.get("/cases").text and hides_identity(client.get("/cases").text)
    answer = client.get(f"/api/cases/{case_no}")
    assert answer.json()["anonymous"] is True and answer.json()["phone_masked"] == ""
    assert hides_identity(answer.text)


def test_the_phone_reveal_is_refused_in_chinese(client):
    login(client, "grid1")
    case_no = entered(client)
    post(client, f"/cases/{case_no}/act/acknowledge")
    refused = post(client, f"/cases/{case_no}/phone")
    assert refused.status_code == 303 and hides_identity(refused.text)
    assert "匿名反映的工单" in client.get(refused.headers["location"]).text


def test_the_sheet_names_no_one(client):
    login(client, "grid1")
    case_no = entered(client)
    sheet = client.get(f"/cases/{case_no}/sheet.pdf")
    text = pypdfium2.PdfDocument(sheet.content)[0].get_textpage().get_text_range()
    assert "匿名反映" in text and hides_identity(text)
    # (the CSV/XLSX exports hold totals only, never a resident: nothing to check there)


def test_other_categories_cannot_be_entered_anonymously(client):
    login(client, "grid1")
    response = post(client, "/cases/new", {**INTAKE, "category": "sanitation"})
    assert response.status_code == 400 and "只有「治安稳定」和「矛盾纠纷」" in response.text
