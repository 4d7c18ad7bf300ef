"""The whole service as real processes, played through Telegram.

Started once for the module: the action server, the local Bot API server (a thread here),
the gateway (``python -m bot``, polling it) and — on first need — the Rasa server, all on
free ports, with a migrated SQLite case database and an SQLite tracker store in a temp
directory. The first test runs before Rasa is up, so "Rasa down" costs no extra start.
"""
from __future__ import annotations

import json
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot import render
from tests.botapi.server import Call
from tests.e2e.harness import (
    CASE_NO,
    Service,
    ThreadedBotApi,
    action_server,
    base_env,
    free_port,
    print_logs_if_failed,
    rasa_budget,
    rasa_server,
    report_json,
    seed_district,
    wait_until,
    write_endpoints,
)

pytestmark = pytest.mark.slow

STAFF_TG = 5300001
RESIDENT_TG = 6300001          # the happy journey
WAITING_RESIDENT_TG = 6300002  # writes while Rasa is down
ACTIONS_DOWN_RESIDENT_TG = 6300003
CORRECTING_RESIDENT_TG = 6300004  # changes the category at the summary
RASA_TOKEN = "e2e-rasa-token-7621"
REPORT_TEXT = "幸福里小区3号楼楼道里有人飞线充电，电线就挂在楼梯扶手上"
TURN = 60.0  # one resident turn through gateway → Rasa → actions, generous under load


@dataclass
class Stack:
    tmp: Path
    env: dict[str, str]
    db_path: Path
    bot_api: ThreadedBotApi
    actions: Service
    rasa: Service
    gateway: Service
    services: list[Service] = field(default_factory=list)

    def ensure_rasa(self) -> None:
        if not self.rasa.running:
            self.rasa.start()
        self.rasa.wait_ready(rasa_budget())

    def ensure_actions(self) -> None:
        if not self.actions.running:
            self.actions.start()
        self.actions.wait_ready(60)

    def query(self, sql: str, *params) -> list[tuple]:
        with sqlite3.connect(self.db_path) as conn:
            return conn.execute(sql, params).fetchall()

    def inbound(self, update_id: int) -> tuple | None:
        rows = self.query("SELECT processed_at, attempts, last_error FROM inbound_messages "
                          "WHERE channel = 'telegram' AND json_extract(payload, '$.update_id') = ?",
                          update_id)
        return rows[0] if rows else None

    def logs(self) -> str:
        return "\n".join(s.tail(80) for s in self.services)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, served_model):
    tmp = tmp_path_factory.mktemp("e2e")
    db_path = tmp / "minsheng.db"
    bot_api = ThreadedBotApi()
    actions_port, rasa_port = free_port(), free_port()
    env = base_env(
        MINSHENG_DATABASE_URL=f"sqlite:///{db_path}",
        MINSHENG_RASA_URL=f"http://127.0.0.1:{rasa_port}",
        MINSHENG_RASA_TOKEN=RASA_TOKEN,
        MINSHENG_ACTION_SERVER_URL=f"http://127.0.0.1:{actions_port}/webhook",
        MINSHENG_PHOTOS_DIR=str(tmp / "photos"),
        TELEGRAM_BOT_TOKEN=bot_api.token,
        MINSHENG_TELEGRAM_BASE_URL=bot_api.base_url,
    )
    services: list[Service] = []
    try:
        seed_district(env, tmp, STAFF_TG)
        endpoints = write_endpoints(tmp, actions_port)
        actions = action_server(env, actions_port, tmp)
        rasa = rasa_server(env, rasa_port, RASA_TOKEN, served_model, endpoints, tmp)
        gateway = Service("gateway", [sys.executable, "-m", "bot"], env, tmp)
        services += [actions, rasa, gateway]
        actions.start()
        gateway.start()
        actions.wait_ready(60)
        built = Stack(tmp, env, db_path, bot_api, actions, rasa, gateway, services)
        yield built
    finally:
        for service in reversed(services):
            service.stop()
        bot_api.close()


@pytest.fixture
def on_failure_logs(stack, request):
    """Print every process's log tail when the test failed."""
    yield
    print_logs_if_failed(request, stack.logs)


# -- the resident side --------------------------------------------------------------------
def last_with_buttons_or_case(api: ThreadedBotApi, chat: int, after: int) -> Call:
    """The reply that ends a turn: a question with buttons, or the case number."""
    return api.wait_sent(chat, after, TURN, what="a question with buttons or a case number",
                         match=lambda c: bool(c.buttons) or bool(CASE_NO.search(c.text)))


def report_problem(api: ThreadedBotApi, chat: int, text: str) -> tuple[str, int]:
    """Report through the form pressing the buttons a resident would; (case_no, turns)."""
    after = len(api.sent_to(chat))
    api.send_text(chat, text)
    return answer_form(api, chat, after)


def answer_form(api: ThreadedBotApi, chat: int, after: int) -> tuple[str, int]:
    """From the first reply after ``after``: press through the form; (case_no, turns)."""
    for turn in range(1, 9):
        reply = last_with_buttons_or_case(api, chat, after)
        found = CASE_NO.search(reply.text)
        if found and not reply.buttons:
            return found.group(0), turn
        titles = [b["text"] for b in reply.buttons]
        after = len(api.sent_to(chat))
        for choice in ("确认提交", "跳过", "完成", "安全隐患"):
            if choice in titles:
                api.press(chat, reply, choice)
                break
        else:
            raise AssertionError(f"unexpected question {reply.text!r} with {titles}")
    raise AssertionError("no case number after 8 turns")


# -- tests --------------------------------------------------------------------------------
def test_rasa_down_the_resident_is_told_and_the_kept_message_is_answered(stack, on_failure_logs):
    api = stack.bot_api
    stack.rasa.stop()  # down (it is not started yet when the module runs in order)
    chat = WAITING_RESIDENT_TG
    update_id = api.send_text(chat, "你好，我想反映个问题")

    busy = api.wait_sent(chat, 0, 20, what="the busy notice")
    assert busy.text == render.BUSY
    kept = wait_until(lambda: (row := stack.inbound(update_id)) and row[1] >= 1 and row, 10,
                      "the failed attempt recorded")
    assert kept[0] is None and kept[2], f"the message must be kept unprocessed: {kept}"

    stack.ensure_rasa()  # now Rasa comes up; the gateway's retry loop finds the message
    answer = api.wait_sent(chat, 1, TURN, what="the answer to the kept message")
    assert answer.text != render.BUSY
    # The gateway marks the message processed just after the reply went out.
    _processed_at, attempts, _error = wait_until(
        lambda: (row := stack.inbound(update_id)) and row[0] is not None and row, 10,
        "the kept message marked processed")
    assert attempts >= 2
    busy_notices = [c for c in api.sent_to(chat) if c.text == render.BUSY]
    assert len(busy_notices) == 1, "the resident is told once, not at every retry"


def test_resident_reports_staff_resolve_resident_rates_and_the_report_counts_it(
        stack, on_failure_logs):
    api = stack.bot_api
    stack.ensure_rasa()
    stack.ensure_actions()
    chat = RESIDENT_TG
    started = time.monotonic()

    case_no, turns = report_problem(api, chat, REPORT_TEXT)
    assert turns <= 4, f"problem and place in one message must finish in 4 turns, took {turns}"
    opened = next(c for c in api.sent_to(chat) if case_no in c.text)
    assert "王网格员" in opened.text, opened.text

    card = api.wait_sent(STAFF_TG, 0, 30, what="the case card",
                         match=lambda c: case_no in c.text and c.buttons)
    assert "3号楼" in card.text
    assert "签收" in [b["text"] for b in card.buttons], card.buttons

    resident_seen = len(api.sent_to(chat))
    seen = len(api.sent_to(STAFF_TG))
    edits = len(api.sent_to(STAFF_TG, ("editMessageText",)))
    api.press(STAFF_TG, card, "签收")
    api.wait_sent(STAFF_TG, seen, 30, what="签收 confirmation",
                  match=lambda c: "签收" in c.text and case_no in c.text)
    assert stack.query("SELECT state FROM cases WHERE case_no = ?", case_no) == \
        [("acknowledged",)]
    redrawn = api.wait_sent(STAFF_TG, edits, 10, what="the redrawn card",
                            methods=("editMessageText",), match=lambda c: bool(c.buttons))
    assert {"进展", "办结"} <= {b["text"] for b in redrawn.buttons}, redrawn.buttons

    seen = len(api.sent_to(STAFF_TG))
    api.press(STAFF_TG, redrawn, "办结")
    choice = api.wait_sent(STAFF_TG, seen, 30, what="the handling methods",
                           match=lambda c: "请选择处理方式" in c.text)
    seen = len(api.sent_to(STAFF_TG))
    api.press(STAFF_TG, choice, "即时办理")
    prompt = api.wait_sent(STAFF_TG, seen, 30, what="the 办结 note prompt",
                           match=lambda c: c.text.startswith("✍️ 办结说明"))
    seen = len(api.sent_to(STAFF_TG))
    api.reply_to(STAFF_TG, prompt, "已拆除飞线，提醒住户到充电桩充电")
    api.wait_sent(STAFF_TG, seen, 30, what="办结 confirmation",
                  match=lambda c: "办结" in c.text and case_no in c.text)

    question = api.wait_sent(chat, resident_seen, TURN, what="the rating question",
                             match=lambda c: case_no in c.text and c.buttons)
    assert {"满意", "基本满意", "不满意"} <= {b["text"] for b in question.buttons}
    seen = len(api.sent_to(chat))
    api.press(chat, question, "满意")
    comment = api.wait_sent(chat, seen, TURN, what="the optional comment question",
                            match=lambda c: bool(c.buttons))
    seen = len(api.sent_to(chat))
    api.press(chat, comment, "跳过")
    api.wait_sent(chat, seen, TURN, what="thanks for the rating",
                  match=lambda c: "满意" in c.text)

    assert stack.query("SELECT state FROM cases WHERE case_no = ?", case_no) == [("closed",)]
    overall = report_json(stack.env)["overall"]
    assert overall["accepted"] == 1, overall
    assert overall["resolved"] == 1, overall
    assert overall["rated"] == 1 and overall["satisfied"] == 1, overall
    assert overall["closure_rate"] == 1.0 and overall["satisfaction"] == 1.0, overall
    print(f"\njourney: {turns} report turns, {time.monotonic() - started:.1f} s end to end")


def test_a_typed_report_is_in_the_nlu_log_and_the_residents_category_change_corrects_it(
        stack, on_failure_logs):
    """The Rasa process logs each typed message (nlu/message_log.py, no action server call):
    the report's words, once; no button press (masking: test_cached_tracker_store.py).
    The report form finds that row by the message's key when the resident changes the
    category at the summary."""
    api = stack.bot_api
    stack.ensure_rasa()
    stack.ensure_actions()
    chat, sender = CORRECTING_RESIDENT_TG, f"telegram:{CORRECTING_RESIDENT_TG}"
    after = len(api.sent_to(chat))
    api.send_text(chat, "平安里小区2号楼楼道里有人飞线充电，电线就挂在楼梯扶手上")
    pressed: list[str] = []
    for _turn in range(10):
        reply = last_with_buttons_or_case(api, chat, after)
        if CASE_NO.search(reply.text) and not reply.buttons:
            break
        titles = [b["text"] for b in reply.buttons]
        after = len(api.sent_to(chat))
        wanted = ["改类别"] if "改类别" not in pressed else []  # once, at the first summary
        choice = next((t for t in [*wanted, "矛盾纠纷", "确认提交", "跳过", "完成"]
                       if t in titles), None)
        assert choice is not None, f"unexpected question {reply.text!r} with {titles}"
        api.press(chat, reply, choice)
        pressed.append(choice)
    else:
        raise AssertionError(f"no case number after 10 turns: pressed {pressed}")
    assert {"改类别", "矛盾纠纷"} <= set(pressed), pressed

    rows = wait_until(lambda: stack.query(
        "SELECT text, corrected_label, corrected_by, message_key FROM nlu_messages "
        "WHERE sender = ?", sender), 10, "the NLU log row")
    assert len(rows) == 1, f"the typed message once, no button press: {rows}"
    text, corrected, by, key = rows[0]
    assert text == "平安里小区2号楼楼道里有人飞线充电，电线就挂在楼梯扶手上"
    assert (corrected, by) == ("dispute", "resident")
    # the key the form kept for the description is the log row's: the case was opened by it
    assert stack.query("SELECT category FROM cases WHERE idempotency_key = ?",
                       f"{sender}:{key}") == [("dispute",)]


def test_action_server_down_during_a_report_is_kept_told_and_answered_when_back(
        stack, on_failure_logs):
    """What the system guarantees when the action server is down: Rasa takes the turn but
    its custom actions fail and Rasa drops their events (it answers nothing). The message
    stays in inbound_messages unprocessed, the resident is told once that it is kept (not
    to send it again), no half case is opened; the gateway rewinds the empty turn and
    sends it again with back-off, so when the action server is back the report goes on
    from the kept message, taken once by Rasa."""
    api = stack.bot_api
    stack.ensure_rasa()
    stack.actions.stop()
    chat = ACTIONS_DOWN_RESIDENT_TG
    text = "和平家园1号楼楼道里有人飞线充电，电线就挂在楼梯扶手上"
    update_id = api.send_text(chat, text)

    told = api.wait_sent(chat, 0, TURN, what="the notice that the message is kept")
    assert told.text == render.BUSY
    kept = wait_until(lambda: (row := stack.inbound(update_id)) and row[1] >= 1 and row, 30,
                      "the empty turn recorded")
    assert kept[0] is None and "EmptyTurn" in kept[2], kept
    stored = stack.query("SELECT payload FROM inbound_messages WHERE channel = 'telegram' "
                         "AND json_extract(payload, '$.update_id') = ?", update_id)
    assert json.loads(stored[0][0])["message"]["text"] == text
    assert stack.query("SELECT count(*) FROM cases WHERE description LIKE '%和平家园%'") == [(0,)]

    stack.ensure_actions()  # the resident sends nothing again
    case_no, _turns = answer_form(api, chat, 1)
    rows = stack.query("SELECT case_no, state FROM cases WHERE description LIKE '%和平家园%'")
    assert rows == [(case_no, "assigned")], rows
    texts = [c.text for c in api.sent_to(chat)]
    assert render.NO_REPLY not in texts and texts.count(render.BUSY) == 1, texts
