"""A turn's answer of several pieces (long texts, images) reaches the resident in order,
through the customer-service API; images go up as temporary media first. The fake WeChat
records the order in which it handled each message (``delivered_messages``) and can hold
one call back (``delay_next``), so that pieces sent at once would arrive out of order."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from minsheng.enums import Channel
from minsheng.models import OutboxMessage
from tests.web.fake_rasa import RATING, FakeRasa
from tests.wechat.conftest import message_xml, png_bytes, post_message, wait_for, wechat_settings

OPENID = "oResident-Pieces-01"
SEND = "/cgi-bin/message/custom/send"


@dataclass
class ScriptedRasa(FakeRasa):
    """Answers the texts in ``script`` with those messages; anything else as FakeRasa."""

    script: dict[str, list[dict]] = field(default_factory=dict)

    def reply(self, body: dict) -> list[dict]:
        scripted = self.script.get(body["message"])
        if scripted is None:
            return super().reply(body)
        self.received.append(body)
        return [{"recipient_id": body["sender"], **message} for message in scripted]


@pytest.fixture
def scripted():
    fake = ScriptedRasa().start()
    yield fake
    fake.stop()


@pytest.fixture
def app_client(tmp_path, db, scripted, wechat):
    from web.app import create_app

    settings = wechat_settings(tmp_path, db, scripted, wechat)
    app = create_app(settings)
    with TestClient(app) as client:
        yield client, settings
    app.state.db.dispose()


def say(client, content: str, msg_id: int):
    return post_message(client, message_xml(OPENID, "text", {"Content": content},
                                            msg_id=msg_id))


def photo(settings, name: str, size: tuple[int, int]) -> tuple[str, bytes]:
    """A photo of ours under photos_dir (as a resolved case keeps them): path, bytes."""
    content = png_bytes(size)
    path = settings.photos_dir / "cases" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return str(path), content


def rows(db) -> list[dict]:
    with db.uow() as uow:
        found = uow.session.execute(select(OutboxMessage).where(
            OutboxMessage.channel == Channel.wechat).order_by(OutboxMessage.id)).scalars()
        return [{"sent": r.sent_at is not None, "failed": r.failed_at is not None,
                 "error": r.last_error} for r in found]


def delivered(wechat, count: int) -> list[dict]:
    return wait_for(lambda: len(wechat.delivered_messages) >= count
                    and wechat.delivered_messages[:])


def test_texts_and_images_of_one_turn_arrive_in_order_though_the_first_send_is_slow(
        app_client, scripted, wechat, db):
    client, settings = app_client
    before, before_bytes = photo(settings, "before.png", (8, 8))
    after, after_bytes = photo(settings, "after.png", (9, 9))
    scripted.script = {"看看处理结果": [
        {"text": "处理前："}, {"image": before}, {"text": "处理后：", "image": after},
        {"text": "满意吗？", "buttons": RATING}]}
    wechat.delay_next[SEND] = 0.5

    response = say(client, "看看处理结果", 701)

    assert response.status_code == 200 and response.text == "success"
    messages = delivered(wechat, 5)
    assert [m["msgtype"] for m in messages] == ["text", "image", "text", "image", "text"]
    assert messages[0]["text"]["content"] == "处理前："
    assert wechat.upload_of(messages[1]["image"]["media_id"]) == before_bytes
    assert messages[2]["text"]["content"] == "处理后："
    assert wechat.upload_of(messages[3]["image"]["media_id"]) == after_bytes
    assert messages[4]["text"]["content"].splitlines() == [
        "满意吗？", "回复数字选择：", "1. 满意", "2. 基本满意", "3. 不满意"]
    assert {m["touser"] for m in messages} == {OPENID}
    assert wait_for(lambda: all(r["sent"] for r in rows(db)) and len(rows(db)) == 5)
    say(client, "3", 702)  # the options of that answer are offered
    assert scripted.received[-1]["message"] == "/rate_dissatisfied"


def test_a_long_answer_is_split_and_its_pieces_arrive_in_order(app_client, scripted, wechat,
                                                               db):
    client, _ = app_client
    long = "\n".join(f"第{n}条：" + "民生说事" * 60 for n in range(1, 9))  # ~5,800 bytes
    scripted.script = {"说长一点": [{"text": long}]}
    wechat.delay_next[SEND] = 0.5

    assert say(client, "说长一点", 703).text == "success"

    wait_for(lambda: rows(db) and all(r["sent"] for r in rows(db)))
    messages = wechat.delivered_messages
    assert len(messages) == len(rows(db)) >= 3
    assert all(len(m["text"]["content"].encode()) <= 2048 for m in messages)
    assert "\n".join(m["text"]["content"] for m in messages) == long


def test_an_answer_to_a_resident_still_being_sent_an_earlier_one_comes_after_it(
        app_client, scripted, wechat):
    client, _ = app_client
    wechat.files["a.png"] = png_bytes()
    scripted.script = {"两段": [{"text": "第一段"}, {"image": f"{wechat.url}/files/a.png"},
                                {"text": "第二段"}]}
    wechat.delay_next[SEND] = 3.0  # the next message is answered well before this ends

    assert say(client, "两段", 704).text == "success"
    quick = say(client, "路灯坏了", 705)  # one text: would be passive, were nothing in flight

    assert quick.text == "success"
    messages = delivered(wechat, 4)
    assert [m.get("text", {}).get("content", m["msgtype"]) for m in messages] == [
        "第一段", "image", "第二段",
        "您反映的是：路灯坏了\n\n确认提交吗？\n回复数字选择：\n1. 确认提交\n2. 取消"]


def test_an_image_url_is_fetched_and_uploaded_once_for_the_same_bytes(app_client, scripted,
                                                                     wechat):
    client, _ = app_client
    wechat.files["p.png"] = png_bytes((12, 12))
    url = f"{wechat.url}/files/p.png"
    scripted.script = {"两张图": [{"image": url}, {"image": url}]}

    assert say(client, "两张图", 706).text == "success"

    first, second = delivered(wechat, 2)
    assert first == second == {"touser": OPENID, "msgtype": "image",
                               "image": {"media_id": "MEDIA-UPLOADED-1"}}
    [upload] = wechat.calls_to("/cgi-bin/media/upload")
    assert upload.params["type"] == "image" and upload.token == "ACCESS-TOKEN-1"
    assert upload.body["media"]["content"] == png_bytes((12, 12))
    assert upload.body["media"]["content_type"] == "image/png"


def test_a_path_outside_photos_dir_is_never_read_and_the_pieces_after_it_still_go(
        app_client, scripted, wechat, db, tmp_path):
    client, _ = app_client
    secret = tmp_path / "elsewhere.png"
    secret.write_bytes(png_bytes())
    scripted.script = {"越界": [{"text": "前"}, {"image": str(secret)}, {"text": "后"}]}

    say(client, "越界", 707)

    messages = delivered(wechat, 2)
    assert [m["text"]["content"] for m in messages] == ["前", "后"]
    assert wechat.calls_to("/cgi-bin/media/upload") == []
    image_row = wait_for(lambda: rows(db)[1]["failed"] and rows(db)[1])
    assert image_row["error"].startswith("ImageRefused") and not image_row["sent"]
