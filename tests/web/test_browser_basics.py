"""In headless Chromium: logging in, and a resident chatting on /chat."""

import pytest
from PIL import Image

from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_a_wrong_password_shows_an_error_and_the_right_one_logs_in(browser):
    browser.login("admin", "not-the-password", expect_success=False)
    browser.wait_text("#login-error", "用户名或密码错误")
    browser.screenshot("wrong-password")
    browser.find("#username").clear()
    browser.login("admin", PASSWORD)
    browser.open("/")
    browser.wait_text("header.top", "admin（管理员）")
    browser.screenshot("logged-in")


def test_a_resident_chats_presses_a_button_and_sends_a_photo(browser, rasa, tmp_path):
    browser.open("/chat")
    browser.find("#chat-text").send_keys('/restart <img src=x onerror="alert(1)">')
    browser.find("#chat-send").click()
    browser.wait_text("#chat", "确认提交吗？")
    bot_lines = [p.text for p in browser.finds("#chat .msg.bot")]
    assert bot_lines[0] == '您反映的是：／restart <img src=x onerror="alert(1)">'
    assert browser.finds("#chat img") == []  # shown as text, never as markup
    photo = tmp_path / "snap.png"
    Image.new("RGB", (16, 16), (10, 120, 10)).save(photo)
    browser.find("#chat-photo").send_keys(str(photo))
    browser.find("#photo-send").click()
    browser.wait_text("#chat", "照片已收到。")
    browser.find("#chat button.choice").click()  # 确认提交, still on offer after the photo
    browser.wait_text("#chat", "您反映的是：/affirm")
    browser.screenshot("chat")
    sender = rasa.received[0]["sender"]
    assert sender.startswith("web:")
    sent = rasa.messages_from(sender)
    assert sent[0].startswith("／restart") and sent[1].startswith("/send_photo{")
    assert sent[2] == "/affirm"
