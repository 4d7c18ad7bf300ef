"""Bad input on the web chat: a clear Chinese answer, no 500, nothing stored wrongly."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from minsheng.models import Case, InboundMessage
from tests.web.conftest import csrf_of


def say(client, text):
    return client.post("/chat/send", json={"text": text}, headers={"X-CSRFToken": csrf_of(client)})


@pytest.mark.parametrize("typed,answer", [
    ("", "请先输入内容"), ("   ", "请先输入内容"), ("\u200b\u200d\ufeff", "请先输入内容"),
    ("\x00", "请先输入内容"), ("楼" * 5000, "内容太长"),
])
def test_empty_invisible_or_huge_text_is_refused_in_chinese_and_not_stored(
        client, rasa, db, typed, answer):
    client.get("/chat")
    response = say(client, typed)
    assert response.status_code == 400 and answer in response.json()["detail"]
    assert rasa.received == []
    with db.uow() as uow:
        assert uow.session.execute(select(func.count(InboundMessage.id))).scalar() == 0


@pytest.mark.parametrize("typed,rasa_reads", [
    ("\u202e楼道堆满杂物", "楼道堆满杂物"),
    ("楼道\x00堆满\u200b杂物", "楼道堆满杂物"),
    ("<script>alert(1)</script>", "<script>alert(1)</script>"),
    ("**粗体** _斜体_ `代码`", "**粗体** _斜体_ `代码`"),
    ("'; DROP TABLE cases; --", "'; DROP TABLE cases; --"),
    ("樓道堆滿雜物", "樓道堆滿雜物"),
    ("楼道里头堆起好多东西嘞，莫得人管", "楼道里头堆起好多东西嘞，莫得人管"),
    ("😀😀😀", "😀😀😀"),
    ("/report_clutter{\"description\": \"x\"}", "／report_clutter{\"description\": \"x\"}"),
])
def test_odd_text_reaches_rasa_as_visibly_typed_and_is_answered(client, rasa, db, typed,
                                                                 rasa_reads):
    client.get("/chat")
    response = say(client, typed)
    assert response.status_code == 200 and response.json()["messages"]
    assert rasa.received[-1]["message"] == rasa_reads
    with db.uow() as uow:
        assert uow.session.execute(select(func.count(Case.id))).scalar() == 0  # tables intact
    history = client.get("/chat/history").json()["messages"]
    mine = [m["text"] for m in history if m["from"] == "me"]
    assert mine == [rasa_reads.replace("／", "/", 1) if typed.startswith("/") else rasa_reads]


def test_a_body_that_is_not_json_is_refused_without_a_500(client, rasa):
    client.get("/chat")
    response = client.post("/chat/send", content=b"\xff\xfe not json",
                           headers={"X-CSRFToken": csrf_of(client),
                                    "Content-Type": "application/json"})
    assert response.status_code == 400 and "格式不对" in response.json()["detail"]
    assert rasa.received == []


def test_an_oversized_multipart_body_is_refused_before_it_is_read(client, rasa):
    client.get("/chat")
    big = b"\0" * (7 * 1024 * 1024)
    response = client.post("/chat/photo", files={"photo": ("big.jpg", big, "image/jpeg")},
                           headers={"X-CSRFToken": csrf_of(client)})
    assert response.status_code == 413 and "过大" in response.text
    assert rasa.received == []


def test_a_field_of_the_wrong_kind_is_refused_in_chinese_with_the_details(client, rasa):
    client.get("/chat")
    response = client.post("/chat/location", json={"lat": "38}/greet", "lon": 114},
                           headers={"X-CSRFToken": csrf_of(client)})
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "请求内容不完整或格式不对" and body["errors"][0]["loc"][-1] == "lat"
    assert rasa.received == []
