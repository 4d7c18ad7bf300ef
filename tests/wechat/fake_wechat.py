"""A local stand-in for WeChat's API (api.weixin.qq.com), stdlib HTTP in a thread.

Enough for the channel: ``/cgi-bin/token`` (issues numbered tokens for the right app
id and secret), ``/cgi-bin/media/get`` (files a test adds), ``/cgi-bin/message/custom/send``
(refused with 45015 for openids whose 48-hour window a test closed, 43004 for
those who unfollowed) and
``/cgi-bin/message/template/send``. A call with an unknown or expired token gets 40001,
as WeChat answers it. Every call is recorded.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
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
                self._answer(json.loads(self.rfile.read(length) or b"{}"))

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

    # -- the API ---------------------------------------------------------------------------
    def serve(self, path: str, params: dict, body: dict | None) -> tuple[int, str, bytes]:
        with self._lock:
            self.calls.append(ApiCall(path, params, body))
            if path == "/cgi-bin/token":
                return self._json(self._token(params))
            if params.get("access_token") not in self.valid_tokens:
                return self._json({"errcode": 40001, "errmsg": "invalid credential"})
            if path == "/cgi-bin/media/get":
                content = self.media.get(params.get("media_id", ""))
                if content is None:
                    return self._json({"errcode": 40007, "errmsg": "invalid media_id"})
                return 200, "image/jpeg", content
            if path == "/cgi-bin/message/custom/send":
                if (body or {}).get("touser") in self.unfollowed:
                    return self._json({"errcode": 43004, "errmsg": "require subscribe"})
                if (body or {}).get("touser") in self.window_closed:
                    return self._json({"errcode": 45015, "errmsg": "response out of time limit"})
                return self._json({"errcode": 0, "errmsg": "ok"})
            if path == "/cgi-bin/message/template/send":
                return self._json({"errcode": 0, "errmsg": "ok", "msgid": len(self.calls)})
            return 404, "text/plain", b"not found"

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
