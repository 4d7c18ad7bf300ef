"""A flood on the web chat is refused in Chinese, per resident and per address; a
resident at normal speed never meets the limit."""
from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import jpeg_bytes
from tests.web.conftest import csrf_of
from web import chat


def say(client: TestClient, text: str):
    return client.post("/chat/send", json={"text": text},
                       headers={"X-CSRFToken": csrf_of(client)})


def test_the_31st_message_within_a_minute_is_refused_and_never_reaches_rasa(client, rasa,
                                                                           held_clock):
    client.get("/chat")
    limit = chat.LIMITS["message-resident"][0]
    codes = [say(client, f"第{n}条").status_code for n in range(limit + 1)]
    assert codes == [200] * limit + [429]
    assert len(rasa.received) == limit
    assert "太频繁" in say(client, "还在刷").json()["detail"]


def test_many_residents_behind_one_address_share_its_budget(app, rasa, held_clock):
    per_address = chat.LIMITS["message-address"][0]
    answers = []
    for n in range(per_address // 10 + 1):  # 10 messages from each new browser
        browser = TestClient(app, client=("203.0.113.50", 40000 + n))
        browser.get("/chat")
        answers += [say(browser, f"{n}-{k}").status_code for k in range(10)]
    assert answers.count(200) == per_address and set(answers[per_address:]) == {429}
    elsewhere = TestClient(app, client=("198.51.100.60", 40000))
    elsewhere.get("/chat")
    assert say(elsewhere, "我这边正常吗").status_code == 200


def test_photos_have_their_own_hourly_limit(client, rasa, held_clock):
    client.get("/chat")
    limit = chat.LIMITS["photo-resident"][0]
    codes = [client.post("/chat/photo", files={"photo": ("p.jpg", jpeg_bytes(), "image/jpeg")},
                         headers={"X-CSRFToken": csrf_of(client)}).status_code
             for _ in range(limit + 1)]
    assert codes == [200] * limit + [429]
    assert say(client, "文字还可以发").status_code == 200
