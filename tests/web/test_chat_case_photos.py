"""The 办结 photos on the web chat: the rating question's photos are shown as images, served
by /chat/photos/ to the resident whose case they belong to — anyone else gets 404."""
from __future__ import annotations

import io
import uuid

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from bot.core import outbox as core
from minsheng.clock import utcnow
from minsheng.enums import ActorType, Category, Channel
from minsheng.models import Case, CasePhoto, ResidentIdentity
from minsheng.places import Place
from minsheng.services import cases
from minsheng.services.contract import ResidentRef
from minsheng.services.notices import rating_buttons
from tests.factories import report
from tests.web.conftest import csrf_of


def web_resident_id(db, rasa) -> tuple[str, int]:
    """(web-chat id, resident id) of the page that sent Rasa its last message."""
    external_id = rasa.received[-1]["sender"].split(":", 1)[1]
    with db.uow() as uow:
        return external_id, uow.session.execute(select(ResidentIdentity.resident_id).where(
            ResidentIdentity.channel == Channel.web,
            ResidentIdentity.external_id == external_id)).scalar_one()


def png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (12, 9), colour).save(buffer, "PNG")
    return buffer.getvalue()


def resolved_with_photo(db, settings, external_id: str, key: str,
                        colour: tuple[int, int, int], **case) -> tuple[str, str, bytes]:
    """A case this web resident reported (``case``: the report's fields), with a staff
    photo of its 办结 under photos_dir; (case_no, the photo's stored path, its bytes)."""
    content = png(colour)
    path = settings.photos_dir / "resolved" / f"{uuid.uuid4().hex}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    with db.uow() as uow:
        case_no = cases.open_case(uow, report(key, channel=Channel.web, who=ResidentRef(
            Channel.web, external_id), **case)).case_no
    with db.uow() as uow:
        case = uow.session.execute(select(Case).where(Case.case_no == case_no)).scalar_one()
        uow.session.add(CasePhoto(case_id=case.id, path=str(path), added_by=ActorType.staff,
                                  added_at=utcnow()))
        uow.commit()
    return case_no, str(path), content


def ask_rating(db, resident_id: int, case_no: str, photo: str) -> None:
    """The rating question as the rating action utters it on every channel (its text and
    buttons, then the photo), kept for the page as the core outbox keeps it."""
    core.keep(db, Channel.web, f"resident:{resident_id}", [
        {"text": f"对工单 {case_no} 的处理结果满意吗？", "buttons": rating_buttons(case_no)},
        {"image": photo}])


def say(client, text: str):
    response = client.post("/chat/send", json={"text": text},
                           headers={"X-CSRFToken": csrf_of(client)})
    assert response.status_code == 200, response.text


def test_a_resident_gets_their_own_case_photo_and_nobody_else_does(app, client, rasa, db,
                                                                    settings):
    from fastapi.testclient import TestClient

    client.get("/chat")
    say(client, "楼道堆满杂物")
    mine_id, mine = web_resident_id(db, rasa)
    case_no, path, content = resolved_with_photo(db, settings, mine_id, "own-1", (20, 160, 40))
    ask_rating(db, mine, case_no, path)

    [shown] = [m for m in client.get("/chat/messages").json()["messages"] if m["image"]]
    url = shown["image"]
    assert url.startswith("/chat/photos/") and path not in url  # never the server's path
    served = client.get(url)
    assert served.status_code == 200 and served.content == content

    with TestClient(app) as other:
        other.get("/chat")
        say(other, "路灯坏了")
        other_id, _ = web_resident_id(db, rasa)
        # another problem elsewhere (the same one would be merged: they would follow it)
        other_case, own_path, own_content = resolved_with_photo(
            db, settings, other_id, "own-2", (160, 20, 40), description="路灯坏了不亮",
            category=Category.livelihood, place=Place("阳光花园", "6号楼", None, None))
        assert other_case != case_no
        assert other.get(url).status_code == 404  # another resident's photo
        mine_too = other.get("/chat/photos/" + own_path.rsplit("/", 1)[1])
        assert mine_too.status_code == 200 and mine_too.content == own_content
    with TestClient(app) as stranger:  # no cookie: a new browser
        assert stranger.get(url).status_code == 404
    assert client.get("/chat/photos/" + own_path.rsplit("/", 1)[1]).status_code == 404


@pytest.mark.browser
@pytest.mark.slow
def test_the_rating_question_shows_the_case_photo_in_the_chat_page(browser, live, rasa, db,
                                                                   settings):
    browser.open("/chat")
    browser.find("#chat-text").send_keys("幸福小区3号楼楼道堆满杂物")
    browser.find("#chat-send").click()
    browser.wait_text("#chat", "确认提交吗？")
    external_id, resident = web_resident_id(db, rasa)
    case_no, path, _ = resolved_with_photo(db, settings, external_id, "shown-1", (30, 90, 200))
    ask_rating(db, resident, case_no, path)

    image = browser.wait_for("#chat .msg.photo img", timeout=15)
    browser.wait_text("#chat", f"对工单 {case_no} 的处理结果满意吗？")
    loaded = browser.driver.execute_async_script(
        "var img = arguments[0], done = arguments[1];"
        "if (img.complete) { done(img.naturalWidth); return; }"
        "img.onload = function () { done(img.naturalWidth); };"
        "img.onerror = function () { done(-1); };", image)
    assert loaded == 12  # the photo itself, served to this browser's resident
    src = image.get_attribute("src")
    assert "/chat/photos/" in src and path not in src
    browser.screenshot("rating-photo")

    with httpx.Client(base_url=live.url) as other:  # another browser: refused
        other.get("/chat")
        assert other.get(src.replace(live.url, "")).status_code == 404
