"""The resident web chat: text, buttons, photos — and no forced intents."""
import io
import json

from PIL import Image

from bot.core.texts import BUSY
from tests.web.conftest import csrf_of


def png_bytes(size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def say(client, **body):
    return client.post("/chat/send", json=body, headers={"X-CSRFToken": csrf_of(client)})


def sender_of(client, rasa) -> str:
    return rasa.received[-1]["sender"]


def test_the_chat_page_renders_for_an_anonymous_resident(client):
    response = client.get("/chat")
    assert response.status_code == 200
    assert "网页报事" in response.text


def test_typed_text_reaches_rasa_with_a_web_sender_and_replies_come_back(client, rasa):
    client.get("/chat")
    response = say(client, text="幸福小区3号楼楼道堆满杂物")
    assert response.status_code == 200
    messages = response.json()["messages"]
    assert messages[0]["text"] == "您反映的是：幸福小区3号楼楼道堆满杂物"
    assert [b["title"] for b in messages[1]["buttons"]] == ["确认提交", "取消"]
    assert sender_of(client, rasa).startswith("web:")


def test_the_turns_of_a_serving_app_share_kept_connections_to_rasa(client, rasa):
    """A connection per turn was a fifth of the web app's CPU: the turns of a serving app
    go over its one client's kept connections (bot.webchat.channel.WebChat.serving)."""
    rasa.keep_alive = True
    client.get("/chat")
    for text in ("楼道堆满杂物", "路灯不亮", "垃圾没人清"):
        assert say(client, text=text).status_code == 200
    assert len(rasa.received) == 3
    assert rasa.connections == 1


def test_a_typed_slash_command_is_neutralised(client, rasa):
    client.get("/chat")
    say(client, text='/affirm{"x": 1}')
    assert rasa.received[-1]["message"] == '／affirm{"x": 1}'


def test_only_payloads_offered_to_this_session_are_accepted(client, rasa, app):
    from fastapi.testclient import TestClient

    client.get("/chat")
    assert say(client, payload="/affirm").status_code == 400  # nothing offered yet
    say(client, text="楼道堆满杂物")
    with TestClient(app) as other:  # another resident never saw these buttons
        other.get("/chat")
        assert say(other, payload="/affirm").status_code == 400
    assert say(client, payload='/restart').status_code == 400
    assert say(client, payload="/deny").status_code == 200
    assert [m["message"] for m in rasa.received].count("/affirm") == 0
    assert say(client, payload="/deny").status_code == 400  # offer used up by the reply


def test_empty_and_overlong_texts_get_a_clear_chinese_reply(client):
    client.get("/chat")
    assert say(client, text="   ").json()["detail"] == "请先输入内容"
    too_long = say(client, text="楼" * 1001)
    assert too_long.status_code == 400 and "太长" in too_long.json()["detail"]


def test_a_photo_is_stored_and_sent_to_rasa_as_send_photo(client, rasa, settings):
    client.get("/chat")
    response = client.post("/chat/photo", files={"photo": ("p.png", png_bytes(), "image/png")},
                           headers={"X-CSRFToken": csrf_of(client)})
    assert response.status_code == 200, response.text
    message = rasa.received[-1]["message"]
    assert message.startswith("/send_photo{")
    path = json.loads(message[len("/send_photo"):])["photo"]
    stored = settings.photos_dir.resolve()
    from pathlib import Path

    assert stored in Path(path).resolve().parents
    assert Path(path).read_bytes() == png_bytes()


def test_a_non_image_upload_is_refused_and_nothing_is_sent(client, rasa, settings):
    client.get("/chat")
    fake = b"<script>alert(1)</script>" * 10
    response = client.post("/chat/photo", files={"photo": ("x.png", fake, "image/png")},
                           headers={"X-CSRFToken": csrf_of(client)})
    assert response.status_code == 400
    assert "JPEG" in response.json()["detail"]
    assert rasa.received == []
    assert not settings.photos_dir.exists() or not any(settings.photos_dir.rglob("*.*"))


def test_an_oversized_upload_is_refused(client, rasa):
    client.get("/chat")
    big = png_bytes() + b"\0" * (6 * 1024 * 1024)
    response = client.post("/chat/photo", files={"photo": ("big.png", big, "image/png")},
                           headers={"X-CSRFToken": csrf_of(client)})
    assert response.status_code == 413
    assert rasa.received == []


def test_rasa_being_down_gives_a_polite_answer_that_the_message_is_kept(client, rasa):
    client.get("/chat")
    rasa.stop()
    response = say(client, text="路灯不亮")
    assert response.status_code == 200
    assert response.json()["messages"][0]["text"] == BUSY  # the text every channel says


def test_the_chat_refuses_posts_without_the_csrf_header(client):
    client.get("/chat")
    assert client.post("/chat/send", json={"text": "你好"}).status_code == 403
