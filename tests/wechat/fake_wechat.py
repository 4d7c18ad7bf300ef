"""A local stand-in for WeChat's API (api.weixin.qq.com), stdlib HTTP in a thread.

Enough for the channel: ``/cgi-bin/token`` (issues numbered tokens for the right app
id and secret), ``/cgi-bin/media/get`` (files a test adds), ``/cgi-bin/media/upload``
(multipart ``media`` of ``type=image``; the bytes kept under the media id it answers),
``/cgi-bin/message/custom/send`` (refused with 45015 for openids whose 48-hour window a
test closed, 43004 for those who unfollowed; an image message needs an uploaded media id)
and ``/cgi-bin/message/template/send``. A call with an unknown or expired token gets
40001, as WeChat answers it. ``/files/<name>`` serves a test's files without a token (an
image URL on some web server).

Every call is recorded when it arrives (``calls``); a message call also when it has been
handled (``delivered``: the order the resident sees), after any ``delay_next`` a test set
for its path, so that messages sent at once would show up out of order.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

APP_ID = "wx0123456789abcdef"
APP_SECRET = "wechat-test-app-secret-0123456789"


@dataclass
class ApiCall:
    path: str
    params: dict[str, str]
    body: dict | None

    @property
    def token(self) -> str | None:
        return self.params.get("access_token")


@dataclass
class FakeWeChat:
    app_id: str = APP_ID
    app_secret: str = APP_SECRET
    calls: list[ApiCall] = field(default_factory=list)
    media: dict[str, bytes] = field(default_factory=dict)
    window_closed: set[str] = field(default_factory=set)
    unfollowed: set[str] = field(default_factory=set)
    valid_tokens: set[str] = field(default_factory=set)
    uploads: dict[str, bytes] = field(default_factory=dict)  # media id → what was uploaded
    files: dict[str, bytes] = field(default_factory=dict)  # /files/<name>
    delivered: list[ApiCall] = field(default_factory=list)
    delay_next: dict[str, float] = field(default_factory=dict)  # path → seconds, once
    _failing: dict[str, list[int]] = field(default_factory=dict)  # path → [calls left, errcode]
    _issued: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> FakeWeChat:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._answer(None)

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                content_type = self.headers.get("content-type") or ""
                if content_type.startswith("multipart/form-data"):
                    self._answer(_multipart(content_type, raw))
                else:
                    self._answer(json.loads(raw or b"{}"))

            def _answer(self, body):
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                status, content_type, data = fake.serve(url.path, params, body)
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

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

    # -- what tests look at ----------------------------------------------------------------
    def calls_to(self, path: str) -> list[ApiCall]:
        return [c for c in self.calls if c.path == path]

    @property
    def custom_sends(self) -> list[ApiCall]:
        return self.calls_to("/cgi-bin/message/custom/send")

    @property
    def template_sends(self) -> list[ApiCall]:
        return self.calls_to("/cgi-bin/message/template/send")

    @property
    def token_fetches(self) -> list[ApiCall]:
        return self.calls_to("/cgi-bin/token")

    def expire_tokens(self) -> None:
        self.valid_tokens.clear()

    @property
    def delivered_messages(self) -> list[dict]:
        """What reached residents, in the order it was handled: each message's body."""
        return [c.body for c in self.delivered if c.path == "/cgi-bin/message/custom/send"]

    def fail_call(self, path: str, nth: int = 1, errcode: int = -1) -> None:
        """The ``nth`` call to ``path`` from now is answered with ``errcode`` (-1: WeChat's
        "system busy"), once."""
        self._failing[path] = [nth, errcode]

    def upload_of(self, media_id: str) -> bytes:
        return self.uploads[media_id]

    # -- the API ---------------------------------------------------------------------------
    def serve(self, path: str, params: dict, body: dict | None) -> tuple[int, str, bytes]:
        call = ApiCall(path, params, body)
        with self._lock:
            self.calls.append(call)
            delay = self.delay_next.pop(path, 0.0)
        time.sleep(delay)  # outside the lock: other calls go on meanwhile
        with self._lock:
            answer = self._failed(path) or self._serve(path, params, body)
            if path.startswith("/cgi-bin/message/") and json.loads(answer[2])["errcode"] == 0:
                self.delivered.append(call)
            return answer

    def _serve(self, path: str, params: dict, body: dict | None) -> tuple[int, str, bytes]:
        if path.startswith("/files/"):
            content = self.files.get(path[len("/files/"):])
            return (200, "image/png", content) if content is not None else (
                404, "text/plain", b"not found")
        if path == "/cgi-bin/token":
            return self._json(self._token(params))
        if params.get("access_token") not in self.valid_tokens:
            return self._json({"errcode": 40001, "errmsg": "invalid credential"})
        if path == "/cgi-bin/media/get":
            content = self.media.get(params.get("media_id", ""))
            if content is None:
                return self._json({"errcode": 40007, "errmsg": "invalid media_id"})
            return 200, "image/jpeg", content
        if path == "/cgi-bin/media/upload":
            return self._json(self._upload(params, body or {}))
        if path == "/cgi-bin/message/custom/send":
            media_id = ((body or {}).get("image") or {}).get("media_id")
            if (body or {}).get("msgtype") == "image" and media_id not in self.uploads:
                return self._json({"errcode": 40007, "errmsg": "invalid media_id"})
            if (body or {}).get("touser") in self.unfollowed:
                return self._json({"errcode": 43004, "errmsg": "require subscribe"})
            if (body or {}).get("touser") in self.window_closed:
                return self._json({"errcode": 45015, "errmsg": "response out of time limit"})
            return self._json({"errcode": 0, "errmsg": "ok"})
        if path == "/cgi-bin/message/template/send":
            return self._json({"errcode": 0, "errmsg": "ok", "msgid": len(self.calls)})
        return 404, "text/plain", b"not found"

    def _failed(self, path: str) -> tuple[int, str, bytes] | None:
        failing = self._failing.get(path)
        if failing is None:
            return None
        failing[0] -= 1
        if failing[0] > 0:
            return None
        del self._failing[path]
        return self._json({"errcode": failing[1], "errmsg": "system busy (the test's fault)"})

    def _upload(self, params: dict, form: dict) -> dict:
        if params.get("type") != "image":
            return {"errcode": 40004, "errmsg": "invalid media type"}
        if not form.get("media"):
            return {"errcode": 41005, "errmsg": "media data missing"}
        media_id = f"MEDIA-UPLOADED-{len(self.uploads) + 1}"
        self.uploads[media_id] = form["media"]["content"]
        return {"type": "image", "media_id": media_id, "created_at": int(time.time())}

    def _token(self, params: dict) -> dict:
        if (params.get("grant_type") != "client_credential" or params.get("appid") != self.app_id
                or params.get("secret") != self.app_secret):
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        self._issued += 1
        token = f"ACCESS-TOKEN-{self._issued}"
        self.valid_tokens.add(token)
        return {"access_token": token, "expires_in": 7200}

    @staticmethod
    def _json(data: dict) -> tuple[int, str, bytes]:
        return 200, "application/json; encoding=utf-8", json.dumps(data).encode()


def _multipart(content_type: str, raw: bytes) -> dict:
    """A multipart/form-data body → {field: {"filename", "content_type", "content"}}."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"content-type: {content_type}\r\n\r\n".encode() + raw)
    return {part.get_param("name", header="content-disposition"): {
        "filename": part.get_filename(), "content_type": part.get_content_type(),
        "content": part.get_payload(decode=True)} for part in message.iter_parts()}
