"""The web chat as a resident's page uses it: how long after a kill until it answers."""
from __future__ import annotations

import threading
import time

import httpx

from bot.core.texts import BUSY


class WebChatProbe:
    """From ``start()``: send one message (again while the web process is down), then poll
    ``/chat/messages`` as the page does until a real answer arrives; ``seconds`` is the time
    from start to that answer, None if none came within ``timeout``."""

    def __init__(self, base_url: str, timeout: float = 300) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.seconds: float | None = None
        self.error: str = ""
        self._thread = threading.Thread(target=self._run, name="webchat-probe", daemon=True)

    def start(self) -> WebChatProbe:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def join(self) -> float | None:
        self._thread.join(self.timeout + 30)
        return self.seconds

    def _run(self) -> None:
        deadline = self._started + self.timeout
        with httpx.Client(base_url=self.base_url, timeout=60) as client:
            last = 0
            while time.monotonic() < deadline:  # the page, then the message
                try:
                    client.get("/chat").raise_for_status()
                    response = client.post("/chat/send", json={"text": "你好"},
                                           headers={"X-CSRFToken":
                                                    client.cookies.get("csrftoken", "")})
                    response.raise_for_status()
                    messages = response.json()["messages"]
                    break
                except httpx.HTTPError as error:
                    self.error = repr(error)
                    time.sleep(0.25)
            else:
                return
            while True:
                answered = [m for m in messages if m["text"] and m["text"] != BUSY]
                if answered:
                    self.seconds = time.monotonic() - self._started
                    return
                last = max([last] + [m["id"] for m in messages])
                if time.monotonic() > deadline:
                    return
                time.sleep(1.0)
                try:
                    messages = client.get("/chat/messages", params={"after": last}).json()[
                        "messages"]
                except (httpx.HTTPError, ValueError) as error:
                    self.error = repr(error)
                    messages = []
