"""Residents through nginx, as the test and the benchmark drive them.

- Telegram: tests/faults/journeys.py's journey, its updates POSTed to the gateways'
  webhook through nginx (``WebhookJourney``) and redelivered until answered 200, as
  Telegram does; the answers arrive at the local Bot API server.
- Web chat: GET /chat, POST /chat/send with the CSRF header, press the offered buttons
  until "已受理！工单号" (``WebJourney``). A send that fails (its web replica killed) is
  not blindly sent again: the page's history says whether it was stored, and a stored
  message's answer is waited for on /chat/messages as the page does.

Each web journey comes from its own loopback address (127.0.<client>.<journey>): nginx
passes it on, so the per-address rate limits of web/chat.py apply as they would to
residents on their own phones (one address sending journeys back to back without pause
is a script, and is refused after 120 messages a minute). Each
client reports at its own place, and its case is withdrawn once its number is known,
so that its next report is not merged into it as a duplicate.
"""
from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from bot.core.texts import BUSY, NO_REPLY
from bot.webhook import SECRET_HEADER
from tests.e2e.harness import CASE_NO
from tests.faults.journeys import CHOICES, Count, Journey, answered_rasa_turns

BUILDINGS = ("幸福里小区1号楼", "幸福里小区2号楼", "幸福里小区3号楼", "幸福里小区4号楼",
             "和平家园1号楼", "和平家园2号楼")
REPORT = "{place}楼道里有人飞线充电，电线就挂在楼梯扶手上"
TURN = 240.0  # one turn at most: a killed Rasa's turns wait for the other or its reload
VICTIMS = ("rasa-1", "actions-1", "web-1", "gateway-1")  # one replica of each kind


def report_text(client: int) -> str:
    """Client ``client``'s report: its own building and unit (单元)."""
    return REPORT.format(place=f"{BUILDINGS[client % len(BUILDINGS)]}{client // 6 + 1}单元")


@dataclass
class Turns:
    """Every answered turn: when it was answered and how long it took (thread-safe)."""

    answered: list[tuple[float, float]] = field(default_factory=list)
    errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, started: float, ended: float | None = None) -> None:
        ended = time.monotonic() if ended is None else ended
        with self._lock:
            self.answered.append((ended, ended - started))

    def error(self) -> None:
        with self._lock:
            self.errors += 1

    def between(self, start: float, end: float) -> int:
        return sum(1 for at, _ in list(self.answered) if start <= at <= end)

    def latencies(self, start: float = 0.0, end: float = float("inf")) -> list[float]:
        return sorted(s for at, s in list(self.answered) if start <= at <= end)


def p95(values: list[float]) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] if ordered else None


# -- Telegram ---------------------------------------------------------------------------
class WebhookJourney(Journey):
    """tests/faults' journey with its updates delivered to the webhook through nginx."""

    def __init__(self, deployment, chat: int, turns: Turns) -> None:
        super().__init__(deployment, chat)
        self.turns = turns
        self.webhook = deployment.public_url + "/telegram"
        self.secret = deployment.topology.keys.webhook_secret
        self.pushed_at = 0.0

    def _push(self, update: dict, step: str | None) -> int:
        update_id = update.setdefault("update_id", self.api.server.next_update_id())
        self.pushed_at = time.monotonic()
        deliver(self.webhook, self.secret, update)
        self.pushed.append(update_id)
        return update_id

    def wait(self, chat, after, match, what, timeout=TURN):
        reply = super().wait(chat, after, match, what, timeout)
        self.turns.add(self.pushed_at, reply.at)
        return reply


def deliver(url: str, secret: str, update: dict, timeout: float = TURN) -> None:
    """POST ``update`` until the webhook answers 200 (Telegram redelivers on errors)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = httpx.post(url, json=update, headers={SECRET_HEADER: secret}, timeout=30)
            if response.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"update {update['update_id']} not taken within {timeout} s")
        time.sleep(0.5)


# -- the web chat -----------------------------------------------------------------------
class WebJourney:
    """One new browser (its own cookies) reporting through the web chat."""

    def __init__(self, base: str, address: str, turns: Turns) -> None:
        self.http = httpx.Client(base_url=base, timeout=TURN,
                                 transport=httpx.HTTPTransport(local_address=address))
        self.turns = turns
        self.stored = 0  # messages the server has stored
        self.last = 0  # the last bot message id seen
        self.resent = 0  # told NO_REPLY: sent again
        self.case_no: str | None = None

    @property
    def sender(self) -> str:
        """Rasa's sender id: the signed cookie's value (itsdangerous: value.signature)."""
        return "web:" + self.http.cookies["minsheng_resident"].rsplit(".", 1)[0]

    def close(self) -> None:
        self.http.close()

    def report(self, text: str) -> str:
        self._open()
        replies = self._turn({"text": text})
        for _ in range(12):
            joined = " ".join(m["text"] for m in replies)
            titles = {b["title"]: b["payload"] for m in replies for b in m["buttons"]}
            found = CASE_NO.search(joined)
            if found and not titles:
                self.case_no = found.group(0)
                return self.case_no
            choice = next((c for c in CHOICES if c in titles), None)
            assert choice is not None, f"unexpected question {joined!r} with {list(titles)}"
            replies = self._turn({"payload": titles[choice]})
        raise AssertionError("no case number after 12 turns")

    def _open(self) -> None:
        deadline = time.monotonic() + TURN
        while True:
            try:
                self.http.get("/chat").raise_for_status()
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def _turn(self, body: dict) -> list[dict]:
        """Send ``body``; the answer (BUSY notices skipped), however long it takes."""
        started = time.monotonic()
        deadline = started + TURN
        while True:
            messages = self._send(body)
            if messages is None:  # not stored: the resident sends it again
                self.turns.error()
                time.sleep(0.5)
                continue
            answer = self._answer(messages, deadline)
            if answer and answer[-1]["text"] == NO_REPLY:  # "send it again later"
                self.resent += 1
                continue
            self.turns.add(started)
            return answer

    def _send(self, body: dict) -> list[dict] | None:
        """The send's messages; ``[]`` if it failed but was stored; None if not stored."""
        try:
            response = self.http.post("/chat/send", json=body, headers={
                "X-CSRFToken": self.http.cookies.get("csrftoken", "")})
            if response.status_code == 200:
                self.stored += 1
                return self._seen(response.json()["messages"])
            assert response.status_code >= 500, (response.status_code, response.text)
        except httpx.HTTPError:
            pass
        return self._stored_after_failure()

    def _stored_after_failure(self) -> list[dict] | None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                history = self.http.get("/chat/history")
                if history.status_code == 200:
                    mine = sum(1 for m in history.json()["messages"] if m["from"] == "me")
                    if mine > self.stored:
                        self.stored = mine
                        return []
                    return None
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        return None

    def _answer(self, messages: list[dict], deadline: float) -> list[dict]:
        answer = [m for m in messages if m["text"] != BUSY]
        while not answer:
            assert time.monotonic() < deadline, "no answer to a stored message"
            time.sleep(0.5)
            try:
                response = self.http.get("/chat/messages", params={"after": self.last})
                if response.status_code == 200:
                    answer = [m for m in self._seen(response.json()["messages"])
                              if m["text"] != BUSY]
            except httpx.HTTPError:
                pass
        return answer

    def _seen(self, messages: list[dict]) -> list[dict]:
        self.last = max([self.last, *(m["id"] for m in messages)])
        return messages


# -- many residents at once -------------------------------------------------------------
@dataclass
class Load:
    """Clients until ``stop`` is set; every journey kept for the count afterwards."""

    deployment: object
    web_clients: int
    telegram_clients: int
    turns: Turns = field(default_factory=Turns)
    stop: threading.Event = field(default_factory=threading.Event)
    web: list[WebJourney] = field(default_factory=list)
    telegram: list[WebhookJourney] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    _chats: itertools.count = field(default_factory=lambda: itertools.count(7100001))

    def start(self) -> Load:
        for n in range(self.web_clients + self.telegram_clients):
            target = self._web_client if n < self.web_clients else self._telegram_client
            thread = threading.Thread(target=target, args=(n,), name=f"client-{n}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def finish(self, timeout: float = TURN) -> None:
        """Stop starting journeys; wait for those under way."""
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def _web_client(self, n: int) -> None:
        for index in itertools.count():
            if self.stop.is_set():
                return
            address = f"127.0.{10 + n}.{1 + index % 250}"
            journey = WebJourney(self.deployment.public_url, address, self.turns)
            self.web.append(journey)
            self._play(lambda j=journey: j.report(report_text(n)), journey)
            journey.close()

    def _telegram_client(self, n: int) -> None:
        while not self.stop.is_set():
            journey = WebhookJourney(self.deployment, next(self._chats), self.turns)
            self.telegram.append(journey)
            self._play(lambda j=journey: j.report(text=report_text(n)), journey)

    def _play(self, report, journey) -> None:
        try:
            case_no = report()
        except (AssertionError, httpx.HTTPError) as error:
            self.failures.append(f"{type(journey).__name__}: {str(error)[:200]}")
            return
        # the next report at this place is a new case, not a follower of this one
        self.deployment.query("UPDATE cases SET state = 'withdrawn' WHERE case_no = ?",
                              case_no)


# -- what is counted afterwards ---------------------------------------------------------
def web_count(deployment, journey: WebJourney) -> Count:
    """As tests/faults/journeys.count for Telegram: every message stored once and
    answered, Rasa took each turn once, no reply row twice, one case if confirmed."""
    found = Count()
    if "minsheng_resident" not in journey.http.cookies:
        return found  # the page never opened: nothing was sent
    sender = journey.sender
    rows = deployment.query("SELECT external_id, processed_at, last_error FROM "
                            "inbound_messages WHERE channel = 'web' AND sender = ?", sender)
    if len(rows) != journey.stored:
        found.doubled.append(f"{len(rows)} stored for {journey.stored} sent")
    found.unanswered += [f"message {key} unprocessed: {error}"
                         for key, done, error in rows if done is None]
    taken = answered_turns(deployment, sender)
    found.doubled += [f"Rasa took {key} {n} times" for key, n in taken.items() if n > 1]
    found.lost += [f"message {key} never answered by Rasa" for key, done, _ in rows
                   if done is not None and taken.get(key, 0) == 0]
    resident = deployment.query("SELECT resident_id FROM resident_identities WHERE "
                                "channel = 'web' AND external_id = ?", sender[4:])
    if resident:
        kept = Counter(text for (text,) in deployment.query(
            "SELECT text FROM outbox WHERE channel = 'web' AND kind = 'reply' "
            "AND recipient = ?", f"resident:{resident[0][0]}"))
        said = Counter(text for (text,) in deployment.tracker_query(
            "SELECT json_extract(data, '$.text') FROM events WHERE sender_id = ? "
            "AND type_name = 'bot'", sender))
        found.doubled += [f"reply shown {n}× for {said.get(t, 0)}: {t[:40]!r}"
                          for t, n in kept.items() if t and n > said.get(t, 0)]
    if journey.resent:
        found.lost.append(f"told to send {journey.resent} message(s) again")
    if journey.case_no:
        cases = deployment.query("SELECT case_no FROM cases WHERE resident_id IN (SELECT "
                                 "resident_id FROM resident_identities WHERE channel = 'web' "
                                 "AND external_id = ?)", sender[4:])
        if len(cases) != 1:
            found.doubled.append(f"{len(cases)} cases: {cases}")
    return found


def answered_turns(deployment, sender: str) -> Counter:
    """turn key → how many times Rasa took and answered it (journeys.answered_rasa_turns)."""
    return Counter(key for _update, key in answered_rasa_turns(deployment.tracker_query, sender)
                   if key)


def sends_after(bot_api, chat: int, since: float) -> list[tuple[float, str]]:
    """Every text sent to ``chat``: seconds after ``since`` (negative: before), first 20
    characters — to tell a double's cause from its timing."""
    return [(round(call.at - since, 1), (call.text or "")[:20]) for call in bot_api.sent_to(chat)]


def settle(deployment, timeout: float = 180, quiet: float = 3.0) -> None:
    """Wait until every stored message is answered, no Telegram reply waits in the outbox
    and the Bot API server has heard nothing new for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout

    def busy() -> bool:
        open_rows = deployment.query("SELECT count(*) FROM inbound_messages "
                                     "WHERE processed_at IS NULL")[0][0]
        due = deployment.query("SELECT count(*) FROM outbox WHERE channel = 'telegram' "
                               "AND sent_at IS NULL AND failed_at IS NULL")[0][0]
        return open_rows + due > 0

    while busy() and time.monotonic() < deadline:
        time.sleep(0.5)
    calls, since = len(deployment.bot_api.calls()), time.monotonic()
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        time.sleep(0.25)
        if len(deployment.bot_api.calls()) != calls:
            calls, since = len(deployment.bot_api.calls()), time.monotonic()
