"""The 7621 loop closes on the web chat and on WeChat, with the real processes: the web app
(its WeChat endpoint pointed at our fake WeChat API), Rasa with the trained model and the
action server. A resident reports, a grid worker acknowledges and resolves over the JSON
API, the resident is told and rates from the notice, the case is closed, and
``minsheng report`` counts it under its channel."""
from __future__ import annotations

import re

import httpx
import pytest

from tests.e2e.harness import (
    CASE_NO,
    GRID_CODE,
    WebChatResident,
    button_titles,
    free_port,
    minsheng_cli,
    rasa_with_actions,
    report_json,
    seed_district,
    serving,
    stack_env,
    wait_until,
    web_server,
)
from tests.wechat.conftest import message_xml, signed_query
from tests.wechat.fake_wechat import FakeWeChat

pytestmark = pytest.mark.slow

RASA_TOKEN = "e2e-loops-rasa-token-7621"
WECHAT_TOKEN = "e2eWeChatToken2026"
CHOICES = ("确认提交", "跳过", "完成", "安全隐患")  # what a resident presses, as in Telegram's
TURN = 60.0
OPTION = re.compile(r"(\d+)\.\s*([^\s\d][^\n]*?)(?=\s+\d+\.|\n|$)")


@pytest.fixture(scope="module")
def loop_stack(tmp_path_factory, served_model):
    tmp = tmp_path_factory.mktemp("loops")
    wechat = FakeWeChat().start()
    actions_port, rasa_port, web_port = free_port(), free_port(), free_port()
    env = stack_env(
        tmp, rasa_port, RASA_TOKEN,
        MINSHENG_WECHAT_TOKEN=WECHAT_TOKEN, MINSHENG_WECHAT_APP_ID=wechat.app_id,
        MINSHENG_WECHAT_APP_SECRET=wechat.app_secret, MINSHENG_WECHAT_API_BASE=wechat.url,
        MINSHENG_NEW_PASSWORD="loop-worker-password-1")
    try:
        seed_district(env, tmp)
        minsheng_cli(env, "user", "add", "--username", "w1", "--role", "grid",
                     "--grid", GRID_CODE, "--staff-id", "1")
        token = minsheng_cli(env, "token", "create", "--username", "w1").strip()
        services = [*rasa_with_actions(env, tmp, served_model, rasa_port, actions_port),
                    web_server(env, web_port, tmp)]
        with serving(services):
            yield {"base": f"http://127.0.0.1:{web_port}", "env": env, "token": token,
                   "wechat": wechat, "services": services}
    finally:
        wechat.stop()


def case_state(env, case_no: str) -> str:
    out = minsheng_cli(env, "cases", "list")
    line = next(line for line in out.splitlines() if case_no in line)
    return line


def staff_acts(stack, case_no: str) -> None:
    with httpx.Client(base_url=stack["base"], timeout=TURN,
                      headers={"Authorization": f"Bearer {stack['token']}"}) as staff:
        for action, note in (("acknowledge", ""), ("resolve", "已拆除飞线，提醒住户到充电桩充电")):
            response = staff.post(f"/api/cases/{case_no}/actions",
                                  json={"action": action, "note": note})
            assert response.status_code == 200, response.text


def closed(stack, case_no: str) -> bool:
    with httpx.Client(base_url=stack["base"], timeout=TURN,
                      headers={"Authorization": f"Bearer {stack['token']}"}) as staff:
        detail = staff.get(f"/api/cases/{case_no}").json()
    return detail["state"] == "closed" and detail["rating"] == "satisfied"


# -- the web chat -------------------------------------------------------------------------
def test_the_loop_closes_on_the_web_chat(loop_stack):
    resident = WebChatResident(loop_stack["base"], TURN)
    replies = resident.say("幸福里小区3号楼楼道里有人飞线充电，电线就挂在楼梯扶手上")
    for _ in range(8):
        text = " ".join(m["text"] for m in replies)
        titles = button_titles(replies)
        if CASE_NO.search(text) and not titles:
            break
        replies = resident.press(replies, next(c for c in CHOICES if c in titles))
    case_no = CASE_NO.search(" ".join(m["text"] for m in replies)).group(0)

    staff_acts(loop_stack, case_no)
    told: list[dict] = []
    prompt = wait_until(lambda: [m for m in (told.extend(resident.news()) or told)
                                 if any(b["title"] == "满意" for b in m["buttons"])], TURN,
                        "the 办结 notice with the rating buttons on the web chat")[-1]
    assert any("签收" in m["text"] for m in told), [m["text"] for m in told]
    thanks = resident.press([prompt], "满意")
    if any(b["title"] == "跳过" for m in thanks for b in m["buttons"]):
        thanks = resident.press(thanks, "跳过")
    assert wait_until(lambda: closed(loop_stack, case_no), 30, "the web case closed")
    by_channel = {row["key"]: row for row in report_json(loop_stack["env"])["by_channel"]}
    assert by_channel["web"]["accepted"] >= 1 and by_channel["web"]["rated"] >= 1


# -- WeChat -------------------------------------------------------------------------------
class WeChatResident:
    def __init__(self, base: str, wechat: FakeWeChat, openid: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=TURN)
        self.wechat, self.openid, self.msg_id = wechat, openid, 7_000_000

    def say(self, text: str) -> str:
        """Send; the passive reply's text, or what the API sent when the turn was slow."""
        seen = len(self._sent())
        self.msg_id += 1
        body = message_xml(self.openid, "text", {"Content": text}, msg_id=self.msg_id)
        response = self.http.post(f"/wechat?{signed_query(WECHAT_TOKEN)}", content=body,
                                  headers={"content-type": "text/xml"})
        assert response.status_code == 200
        passive = re.search(r"<Content><!\[CDATA\[(.*?)\]\]></Content>", response.text, re.DOTALL)
        if passive:
            return passive.group(1)
        return wait_until(lambda: self._sent()[seen:], TURN, "the reply via the API")[-1]

    def _sent(self) -> list[str]:
        return [c.body["text"]["content"] for c in self.wechat.custom_sends
                if c.body.get("touser") == self.openid and "text" in c.body]

    def wait_for(self, seen: int, word: str) -> str:
        return wait_until(lambda: [t for t in self._sent()[seen:] if word in t], TURN,
                          f"a WeChat notice with {word}")[-1]


def option(text: str, title: str) -> str | None:
    return next((n for n, t in OPTION.findall(text) if t.strip() == title), None)


def test_the_loop_closes_on_wechat(loop_stack):
    resident = WeChatResident(loop_stack["base"], loop_stack["wechat"], "oLoopResident0001")
    reply = resident.say("和平家园2号楼楼道里有人飞线充电，插线板就放在楼梯上")
    for _ in range(8):
        numbers = {c: option(reply, c) for c in CHOICES}
        if CASE_NO.search(reply) and not any(numbers.values()):
            break
        reply = resident.say(next(n for c, n in numbers.items() if n))
    case_no = CASE_NO.search(reply).group(0)

    seen = len(resident._sent())
    staff_acts(loop_stack, case_no)
    resident.wait_for(seen, "签收")
    prompt = resident.wait_for(seen, "满意")
    reply = resident.say(option(prompt, "满意"))
    if option(reply, "跳过"):
        resident.say(option(reply, "跳过"))
    assert wait_until(lambda: closed(loop_stack, case_no), 30, "the WeChat case closed")
    by_channel = {row["key"]: row for row in report_json(loop_stack["env"])["by_channel"]}
    assert by_channel["wechat"]["accepted"] >= 1 and by_channel["wechat"]["rated"] >= 1
    print(f"\nWeChat loop closed: {case_no}; API sends {len(resident._sent())}, "
          f"token fetches {len(loop_stack['wechat'].token_fetches)}")
