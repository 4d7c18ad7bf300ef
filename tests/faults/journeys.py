"""What a resident and a staff member do over Telegram, with a fault injected at a named
step, and what the suite counts afterwards (lost, doubled, unanswered)."""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bot import render
from tests.botapi import updates
from tests.botapi.server import Call
from tests.e2e.harness import CASE_NO, wait_until
from tests.faults.stack import STAFF_TG, Stack

REPORT_TEXT = "幸福里小区3号楼楼道里有人飞线充电，电线就挂在楼梯扶手上"
CHOICES = ("确认提交", "跳过", "完成", "安全隐患")
# Sent by the gateway itself, not through the outbox (told once, or per failed press).
DIRECT = {render.BUSY, render.WAIT, render.NO_REPLY, render.BUTTON_EXPIRED, render.EDITED}
RESEND_AFTER = 5.0  # "请稍后再发一次": a resident waits a moment before sending again
TURN = 300.0  # one turn, generous: a killed Rasa loads its model again first


@dataclass
class Journey:
    """One resident (and the staff member) through one journey; ``fault(step)`` is called
    right after the resident's or staff's update for that step is stored."""

    stack: Stack
    chat: int
    fault: Callable[[str], None] = lambda step: None
    pushed: list[int] = field(default_factory=list)
    expired: int = 0  # presses answered "button expired"
    resent: int = 0   # times the resident had to send again (told NO_REPLY)
    case_no: str | None = None

    @property
    def api(self):
        return self.stack.bot_api

    def stored(self, update_id: int) -> bool:
        return bool(self.stack.query(
            "SELECT 1 FROM inbound_messages WHERE channel = 'telegram' AND "
            "json_extract(payload, '$.update_id') = ?", update_id))

    def _push(self, update: dict, step: str | None) -> int:
        update_id = self.api.push(update)
        self.pushed.append(update_id)
        if step is not None:
            wait_until(lambda: self.stored(update_id), 60, f"update {update_id} stored",
                       interval=0.05)
            self.fault(step)
        return update_id

    def send(self, user: int, text: str, step: str | None = None) -> int:
        return self._push(updates.message_update(user, text), step)

    def press(self, user: int, message: Call, title: str, step: str | None = None) -> int:
        button = next((b for b in message.buttons if b.get("text") == title), None)
        assert button is not None, (title, message.text, message.buttons)
        return self.press_data(user, message, button["callback_data"], step)

    def press_data(self, user: int, message: Call, data: str, step: str | None = None) -> int:
        return self._push(updates.callback_update(user, data,
                                                  updates.sent_message(message.result)), step)

    def reply(self, user: int, message: Call, text: str, step: str | None = None) -> int:
        return self._push(updates.reply_update(user, text, updates.sent_message(message.result)),
                          step)

    # -- waiting ---------------------------------------------------------------------
    def wait(self, chat: int, after: int, match: Callable[[Call], bool], what: str,
             timeout: float = TURN) -> Call:
        return self.api.wait_sent(chat, after, timeout, match=match, what=what)

    # -- (a) the report, first message to case number -----------------------------------
    def report(self, steps: dict[int, str] | None = None,
               confirm_step: str | None = None, text: str = REPORT_TEXT) -> str:
        """Send the report (``text``) and answer the form as a resident would; ``steps``
        names the fault step of the n-th resident update (1 = the first message)."""
        steps = steps or {}
        after = len(self.api.sent_to(self.chat))
        last: tuple = ("text", text)
        self.send(self.chat, text, steps.get(1))
        for turn in range(2, 16):
            reply = self.wait(self.chat, after, ends_turn, "a question, a case number or a "
                              "request to send again")
            after = len(self.api.sent_to(self.chat))
            found = CASE_NO.search(reply.text)
            if found and not reply.buttons:
                self.case_no = found.group(0)
                return self.case_no
            step = steps.get(turn)
            if reply.text == render.NO_REPLY:  # "send it again later": the resident does
                self.resent += 1
                time.sleep(RESEND_AFTER)
                self._again(last, step)
                continue
            if reply.text == render.BUTTON_EXPIRED:  # type the answer instead
                self.expired += 1
                self.send(self.chat, last[2], step)
                last = ("text", last[2])
                continue
            titles = [b["text"] for b in reply.buttons]
            choice = next((c for c in CHOICES if c in titles), None)
            assert choice is not None, f"unexpected question {reply.text!r} with {titles}"
            if choice == "确认提交" and confirm_step:
                step = confirm_step
            self.press(self.chat, reply, choice, step)
            last = ("press", reply, choice)
        raise AssertionError("no case number after 15 turns")

    def _again(self, last: tuple, step: str | None) -> None:
        if last[0] == "text":
            self.send(self.chat, last[1], step)
        else:
            self.press(self.chat, last[1], last[2], step)

    # -- (b) the staff member: 签收, 办结; the resident's notices and rating ---------------
    def staff_handles(self, ack_step: str | None = None,
                      resolve_step: str | None = None) -> None:
        case_no = self.case_no
        assert case_no
        seen_resident = len(self.api.sent_to(self.chat))
        card = self.wait(STAFF_TG, 0, lambda c: case_no in c.text and bool(c.buttons),
                         "the case card")
        seen = len(self.api.sent_to(STAFF_TG))
        self.press(STAFF_TG, card, "签收", ack_step)
        self.wait(STAFF_TG, seen, lambda c: c.text == render.action_done("签收", case_no),
                  "签收 confirmation")
        seen = len(self.api.sent_to(STAFF_TG))
        self.press_data(STAFF_TG, card, f"s:resolve:{case_no}")
        choice = self.wait(STAFF_TG, seen, lambda c: "请选择处理方式" in c.text,
                           "the handling methods")
        seen = len(self.api.sent_to(STAFF_TG))
        self.press(STAFF_TG, choice, "网格处置")
        prompt = self.wait(STAFF_TG, seen, lambda c: c.text.startswith("✍️ 办结说明"),
                           "the 办结 note prompt")
        seen = len(self.api.sent_to(STAFF_TG))
        self.reply(STAFF_TG, prompt, "已拆除飞线，提醒住户到充电桩充电", resolve_step)
        self.wait(STAFF_TG, seen, lambda c: c.text == render.action_done("办结", case_no),
                  "办结 confirmation")
        question = self.wait(self.chat, seen_resident,
                             lambda c: case_no in c.text and "满意" in button_titles(c),
                             "the rating question")
        seen = len(self.api.sent_to(self.chat))
        self.press(self.chat, question, "满意")
        comment = self.wait(self.chat, seen, lambda c: bool(c.buttons) or
                            c.text in (render.BUTTON_EXPIRED, render.NO_REPLY),
                            "the optional comment question")
        if comment.text in (render.BUTTON_EXPIRED, render.NO_REPLY):
            self.expired += comment.text == render.BUTTON_EXPIRED
            seen = len(self.api.sent_to(self.chat))
            self.send(self.chat, "满意")
            comment = self.wait(self.chat, seen, lambda c: bool(c.buttons),
                                "the optional comment question")
        seen = len(self.api.sent_to(self.chat))
        self.press(self.chat, comment, "跳过")
        self.wait(self.chat, seen, lambda c: "满意" in c.text or "评价" in c.text,
                  "thanks for the rating")
        wait_until(lambda: self.stack.query("SELECT state FROM cases WHERE case_no = ?",
                                            case_no) == [("closed",)], 60, "case closed")


def ends_turn(call: Call) -> bool:
    return bool(call.buttons) or bool(CASE_NO.search(call.text)) or call.text in (
        render.NO_REPLY, render.BUTTON_EXPIRED)


def button_titles(call: Call) -> list[str]:
    return [b.get("text") for b in call.buttons]


# -- what is counted after recovery ---------------------------------------------------------
@dataclass
class Count:
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)

    def totals(self) -> tuple[int, int, int]:
        return len(self.lost), len(self.doubled), len(self.unanswered)


def settle(stack: Stack, chats: list[int], quiet: float = 3.0, timeout: float = 120) -> None:
    """Wait until nothing is left to do: every update stored and processed, no outbox row
    due, and no new Bot API message for ``quiet`` seconds."""
    def done() -> bool:
        open_rows = stack.query(
            "SELECT count(*) FROM inbound_messages WHERE channel = 'telegram' "
            "AND processed_at IS NULL")[0][0]
        due = stack.query("SELECT count(*) FROM outbox WHERE channel = 'telegram' "
                          "AND sent_at IS NULL AND failed_at IS NULL")[0][0]
        return open_rows == 0 and due == 0

    try:
        wait_until(done, timeout, "inbound processed and outbox empty", interval=0.5)
    except AssertionError:
        pass  # counted as unanswered / lost below
    for chat in chats:
        stack.bot_api.wait_quiet(chat, quiet=quiet, timeout=60)


def count(stack: Stack, journey: Journey, expect_case: bool = True) -> Count:
    found = Count()
    api = stack.bot_api
    chat = journey.chat
    # every update the resident and staff pushed is stored and answered once
    for update_id in journey.pushed:
        rows = stack.query("SELECT processed_at, last_error FROM inbound_messages WHERE "
                           "channel = 'telegram' AND json_extract(payload, '$.update_id') = ?",
                           update_id)
        if not rows:
            found.lost.append(f"update {update_id} never stored")
        elif rows[0][0] is None:
            found.unanswered.append(f"update {update_id} unprocessed: {rows[0][1]}")
    # Rasa took and answered each update's turn once (a replayed turn has the same update
    # id twice)
    for update_id, times in taken_turns(stack, f"telegram:{chat}").items():
        if times > 1:
            found.doubled.append(f"Rasa took update {update_id}'s turn {times} times")
    # every bot message left once: Bot API sends per text vs outbox rows per text
    resident = stack.query("SELECT resident_id FROM resident_identities WHERE "
                           "channel = 'telegram' AND external_id = ?", str(chat))
    recipients = [str(chat)] + [f"resident:{r[0]}" for r in resident]
    marks = ",".join("?" * len(recipients))
    rows = stack.query(f"SELECT id, kind, text, sent_at, failed_at, last_error FROM outbox "
                       f"WHERE channel = 'telegram' AND recipient IN ({marks})", *recipients)
    kept = Counter()
    for row_id, kind, text, sent_at, failed_at, error in rows:
        if kind == "rating_request":
            if sent_at is None:
                found.lost.append(f"rating request {row_id} not started: {error}")
            continue
        if sent_at is None:
            found.lost.append(f"outbox row {row_id} ({kind}) not sent: {failed_at} {error}")
        kept[text or "请选择："] += 1
    sent = Counter(c.text for c in api.sent_to(chat) if c.text not in DIRECT)
    for text, times in sent.items():
        if times > kept.get(text, 0):
            found.doubled.append(f"sent {times}× for {kept.get(text, 0)} row(s): {text[:40]!r}")
    busy = told_busy_again(api.sent_to(chat))
    if busy:
        found.doubled.append(f"told BUSY {busy} more time(s) before any answer")
    if journey.expired:
        found.lost.append(f"{journey.expired} button press(es) answered 'expired'")
    if journey.resent:
        found.lost.append(f"told to send {journey.resent} message(s) again")
    # staff: one answer per press or note (identical texts are doubles)
    if journey.case_no:
        staff = Counter(c.text for c in api.sent_to(STAFF_TG) if journey.case_no in c.text)
        found.doubled += [f"staff got {n}× {t[:40]!r}" for t, n in staff.items() if n > 1]
    # the case exists exactly once
    if expect_case:
        cases = stack.query("SELECT case_no FROM cases WHERE resident_id IN "
                            "(SELECT resident_id FROM resident_identities WHERE "
                            "channel = 'telegram' AND external_id = ?)", str(chat))
        if not cases:
            found.lost.append("no case")
        elif len(cases) > 1:
            found.doubled.append(f"{len(cases)} cases: {cases}")
    return found


def sends_of(bot_api, chat: int) -> dict[str, list]:
    """Every text sent to ``chat`` with its calls, in order."""
    sent: dict[str, list] = {}
    for call in bot_api.sent_to(chat):
        sent.setdefault(call.text, []).append(call)
    return sent


# A request the gateway wrote just before its SIGKILL is read (and timed) by the fake Bot
# API server a moment later, on a loaded machine up to some hundred milliseconds.
IN_FLIGHT = 1.0


def crash_copies(bot_api, chat: int, killed_at: float, lease: float) -> set[str]:
    """Texts sent twice to ``chat`` because a gateway died between Telegram's answer and
    recording the row as sent: the first copy in the seconds before the kill, the second
    once the row's lease (``lease`` s) ran out and another sender took it. Telegram has no
    idempotent send, so a crash in that moment gives a second copy; any other double is
    a fault."""
    return {text for text, calls in sends_of(bot_api, chat).items() if len(calls) == 2
            and killed_at - 10 <= calls[0].at <= killed_at + IN_FLIGHT
            and calls[1].at - calls[0].at >= 0.9 * lease}


def told_busy_again(sent: list[Call]) -> int:
    """BUSY notices that repeat one before it with no answer in between. The gateway says
    BUSY once while a resident's messages wait; after an answer, a later message that
    meets a new outage (or a replica still loading) is rightly told again."""
    again, waiting = 0, False
    for call in sent:
        if call.text == render.BUSY:
            again += waiting
            waiting = True
        elif call.text not in DIRECT:
            waiting = False
    return again


def answered_rasa_turns(tracker_query, sender: str) -> list[tuple]:
    """(update id, turn key) of every turn Rasa took and answered for ``sender``: a user
    event followed by a bot message. A turn whose custom action failed changed nothing
    (Rasa dropped its events) and answered nothing: it is sent again, not a double. A user
    event that Rasa's fallback rewound does not count either. ``tracker_query(sql, sender)``
    reads the stack's tracker store (the fault stacks and the scale-out topology have one)."""
    turns: list[list] = []  # [update id, turn key, answered]
    current: list | None = None
    for kind, update_id, key in tracker_query(
            "SELECT type_name, json_extract(data, '$.metadata.update_id'), "
            "json_extract(data, '$.metadata.turn_key') FROM events "
            "WHERE sender_id = ? AND type_name IN ('user', 'bot', 'rewind') ORDER BY id",
            sender):
        if kind == "user":
            current = [update_id, key, False]
            turns.append(current)
        elif kind == "bot" and current is not None:
            current[2] = True
        elif kind == "rewind":
            if turns:
                turns.pop()
            current = None
    return [(u, k) for u, k, done in turns if done]


def taken_turns(stack: Stack, sender: str) -> Counter:
    """update id → times Rasa took and answered one of its turns, where more than once."""
    # per turn key: a photo's caption and the photo are two turns of one update
    answered = Counter((u, k) for u, k in answered_rasa_turns(stack.tracker_query, sender)
                       if u is not None)
    return Counter({u: n for (u, _k), n in answered.items() if n > 1})


def first_answer_after(stack: Stack, chat: int, since: float) -> float | None:
    """Seconds from ``since`` to the first non-BUSY message to ``chat`` after it."""
    for call in stack.bot_api.sent_to(chat):
        if call.at > since and call.text != render.BUSY:
            return call.at - since
    return None


def now() -> float:
    return time.monotonic()
