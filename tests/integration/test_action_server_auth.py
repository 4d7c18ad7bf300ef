"""The action server, as a real process: it listens on 127.0.0.1 only and answers only
callers with the shared token (Rasa sends it; tests/e2e prove Rasa's side)."""
from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest

from minsheng.migrate import upgrade
from tests.e2e.harness import action_server, base_env, free_port

TOKEN = "action-token-for-this-test-42"


def call(url: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def show_cases_call(sender: str) -> dict:
    return {"next_action": "action_show_cases", "sender_id": sender, "version": "3.6.21",
            "domain": {}, "tracker": {"sender_id": sender, "slots": {}, "latest_message": {
                "text": "我的工单", "intent": {"name": "ask_status"}, "entities": []},
                "events": [], "paused": False, "followup_action": None,
                "active_loop": {}, "latest_action_name": "action_listen"}}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("actions")
    url = f"sqlite:///{tmp / 'minsheng.db'}"
    upgrade(url)
    port = free_port()
    service = action_server(base_env(MINSHENG_DATABASE_URL=url, MINSHENG_ACTION_TOKEN=TOKEN),
                            port, tmp)
    service.start()
    try:
        service.wait_ready(60)
        yield f"http://127.0.0.1:{port}", port
    finally:
        service.stop()


@pytest.mark.parametrize("token", [None, "wrong-token-of-some-length", TOKEN + "x"])
def test_a_webhook_call_without_the_right_token_is_refused(server, token):
    base, _ = server
    status, body = call(f"{base}/webhook", show_cases_call("someone-else"), token)
    assert status == 401 and "events" not in body


def test_the_action_list_is_refused_without_the_token(server):
    base, _ = server
    assert call(f"{base}/actions")[0] == 401


def test_a_webhook_call_with_the_token_runs_the_action(server):
    base, _ = server
    status, body = call(f"{base}/webhook", show_cases_call("resident-1"), TOKEN)
    assert status == 200
    assert body["responses"], body


def test_the_action_server_is_not_reachable_on_other_addresses(server):
    _, port = server
    address = outward_address()
    if address is None or address.startswith("127."):
        pytest.skip("this host has no non-loopback address")
    with pytest.raises(OSError), socket.create_connection((address, port), timeout=2):
        pass


def outward_address() -> str | None:
    """This host's address on its default route (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.254", 9))
        except OSError:
            return None
        return probe.getsockname()[0]
