"""A small stand-in for the Rasa server the web chat talks to (stdlib HTTP, in a thread).

REST channel: any typed text is summarised and confirmed with two buttons; ``/affirm``
calls ``on_confirm(sender, text, photos)`` — the test's stand-in for the action server —
and answers with the case number it returns. ``/model/parse`` ranks categories by keyword.
``trigger_intent`` of ``start_rating`` asks for the rating with three buttons; ``silent``
answers every turn with ``[]``, as Rasa does when the action server is down.

It keeps a tracker per sender and serves it (``GET /conversations/{sender}/tracker``,
``POST …/tracker/events``): the report is a form (``report_form``, slots ``description``,
``photos``, ``requested_slot``, ``confirm``) whose state is read from those events, so
events appended by a channel count. ``actions_down`` plays the action server down at the
confirmation: the form is submitted (its events stay, as in Rasa) and the turn answers
``[]`` without opening the case; a message re-sent then meets no form.
"""
from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

KEYWORDS = {"垃圾": "sanitation", "楼道": "clutter", "飞线": "safety_hazard", "路灯": "livelihood",
            "吵架": "dispute", "偷": "public_order", "违建": "illegal_construction"}
CONFIRM = [{"title": "确认提交", "payload": "/affirm"}, {"title": "取消", "payload": "/deny"}]
RATING = [{"title": "满意", "payload": "/rate_satisfied"},
          {"title": "基本满意", "payload": "/rate_basically_satisfied"},
          {"title": "不满意", "payload": "/rate_dissatisfied"}]
TRIGGER = re.compile(r"^/conversations/(?P<sender>[^/]+)/trigger_intent$")
TRACKER = re.compile(r"^/conversations/(?P<sender>[^/]+)/tracker(?P<events>/events)?$")
FORM = "report_form"


def form_state(events: list[dict]) -> tuple[dict, str | None]:
    """The slots and the active form after ``events``."""
    slots: dict = {}
    loop = None
    for event in events:
        if event.get("event") == "slot":
            slots[event.get("name")] = event.get("value")
        elif event.get("event") == "active_loop":
            loop = event.get("name")
    return slots, loop


def slot(name: str, value) -> dict:
    return {"event": "slot", "name": name, "value": value}


@dataclass
class FakeRasa:
    token: str = "web-test-rasa-token"
    on_confirm: Callable[[str, str, list[str]], str] | None = None
    received: list[dict] = field(default_factory=list)
    parsed: list[str] = field(default_factory=list)
    triggered: list[dict] = field(default_factory=list)
    silent: bool = False
    actions_down: bool = False
    events: dict[str, list[dict]] = field(default_factory=dict)  # the trackers, by sender
    model_file: str | None = None  # what GET /status reports; PUT /model sets it
    keep_alive: bool = False  # HTTP/1.1 with kept connections, as Rasa (Sanic) serves
    connections: int = 0  # TCP connections accepted
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> FakeRasa:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def setup(self):
                super().setup()
                self.protocol_version = "HTTP/1.1" if fake.keep_alive else "HTTP/1.0"
                with fake._lock:
                    fake.connections += 1

            def do_GET(self):
                url = urlparse(self.path)
                found = TRACKER.match(url.path)
                if url.path == "/status" and parse_qs(url.query).get("token") == [fake.token]:
                    if fake.model_file is None:
                        self._send(409, {"status": "failure", "reason": "Conflict"})
                    else:
                        self._send(200, {"model_file": fake.model_file, "model_id": "fake"})
                elif not found or found.group("events"):
                    self._send(404, {})
                elif parse_qs(url.query).get("token") != [fake.token]:
                    self._send(401, {"status": "failure"})
                else:
                    sender = unquote(found.group("sender"))
                    with fake._lock:
                        events = list(fake.events.get(sender, []))
                    self._send(200, {"sender_id": sender, "events": events})

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                url = urlparse(self.path)
                tracker = TRACKER.match(url.path)
                if url.path == "/webhooks/rest/webhook":
                    with fake._lock:
                        replies = fake.reply(body)
                    self._send(200, replies)
                elif tracker and tracker.group("events"):
                    if parse_qs(url.query).get("token") != [fake.token]:
                        self._send(401, {"status": "failure"})
                    else:
                        with fake._lock:
                            fake.events.setdefault(unquote(tracker.group("sender")),
                                                   []).extend(body)
                        self._send(200, {})
                elif url.path == "/model/parse":
                    if parse_qs(url.query).get("token") != [fake.token]:
                        self._send(401, {"status": "failure"})
                    else:
                        self._send(200, fake.parse(body.get("text", "")))
                elif TRIGGER.match(url.path):
                    if parse_qs(url.query).get("token") != [fake.token]:
                        self._send(401, {"status": "failure"})
                    else:
                        sender = unquote(TRIGGER.match(url.path).group("sender"))
                        self._send(200, fake.trigger(sender, body))
                else:
                    self._send(404, {})

            def do_PUT(self):
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                url = urlparse(self.path)
                if url.path != "/model" or parse_qs(url.query).get("token") != [fake.token]:
                    self._send(401, {"status": "failure"})
                    return
                fake.model_file = body["model_file"].rsplit("/", 1)[-1]
                self.send_response(204)
                self.end_headers()

            def _send(self, status: int, data) -> None:
                raw = json.dumps(data, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def messages_from(self, sender: str) -> list[str]:
        return [m["message"] for m in self.received if m["sender"] == sender]

    def reply(self, body: dict) -> list[dict]:
        """One turn: its events go to the sender's tracker, its messages are returned."""
        self.received.append(body)
        sender = body["sender"]
        tracker = self.events.setdefault(sender, [])
        tracker.append({"event": "user", "text": body["message"],
                        "metadata": body.get("metadata") or {}})
        if self.silent:
            return []  # a custom action failed: Rasa dropped the turn's events
        changes, texts = self._turn(body["message"], *form_state(tracker), sender)
        tracker += changes
        replies = [{"recipient_id": sender, **t} for t in texts]
        tracker += [{"event": "bot", "text": r.get("text"),
                     "data": {"buttons": r.get("buttons")}} for r in replies]
        return replies

    def _turn(self, text: str, slots: dict, loop: str | None,
              sender: str) -> tuple[list[dict], list[dict]]:
        """(the events of the turn, its messages)."""
        photos = list(slots.get("photos") or [])
        photo = re.match(r'^/send_photo(\{.*\})$', text)
        if photo:
            return [slot("photos", photos + [json.loads(photo.group(1))["photo"]])], [
                {"text": "照片已收到。"}]
        if text == "/affirm" and loop == FORM and slots.get("description") and self.on_confirm:
            submitted = [slot("confirm", True), slot("requested_slot", None),
                         {"event": "active_loop", "name": None}]
            if self.actions_down:  # action_open_case failed: the form's events stay
                return submitted, []
            case_no = self.on_confirm(sender, slots["description"], photos)
            return submitted + self._reset(), [
                {"text": f"已受理，工单号 {case_no}，我们会尽快处理。"}]
        if text in {b["payload"] for b in RATING}:
            return [], [{"text": "收到您的评价，谢谢您的反馈！"}]
        if text == "/deny":
            return self._reset() + [{"event": "active_loop", "name": None}], [
                {"text": "好的，已取消。"}]
        return [{"event": "active_loop", "name": FORM}, slot("description", text),
                slot("requested_slot", "confirm")], [
            {"text": f"您反映的是：{text}"}, {"text": "确认提交吗？", "buttons": CONFIRM}]

    @staticmethod
    def _reset() -> list[dict]:
        return [slot("description", None), slot("photos", []), slot("confirm", None)]

    def trigger(self, sender: str, body: dict) -> dict:
        self.triggered.append({"sender": sender, **body})
        if self.silent:
            return {"messages": []}
        case_no = (body.get("entities") or {}).get("case_no")
        if body.get("name") != "start_rating":
            return {"messages": []}
        return {"messages": [{"recipient_id": sender, "buttons": RATING,
                              "text": f"您反映的问题（工单 {case_no}）已经办结。对处理结果满意吗？"}]}

    def parse(self, text: str) -> dict:
        self.parsed.append(text)
        hits = [cat for word, cat in KEYWORDS.items() if word in text]
        ranking = [{"name": f"report_{c}", "confidence": 0.9 / len(hits)} for c in hits]
        ranking.append({"name": "out_of_scope", "confidence": 0.1 if hits else 0.8})
        return {"text": text, "intent": ranking[0], "intent_ranking": ranking, "entities": []}
