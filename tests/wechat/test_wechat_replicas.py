"""Two web apps serving one Official Account: the numbered options one offered are
answered on the other when they share state through the real Redis."""
from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from tests.wechat.conftest import message_xml, post_message

pytestmark = pytest.mark.redis


def _answer_elsewhere(settings, rasa) -> str:
    """Options offered by one app, "２" typed to the other: what Rasa was sent."""
    from web.app import create_app

    openid = f"oReplica-{uuid.uuid4().hex[:10]}"  # no earlier run's offer on the server
    first, second = create_app(settings), create_app(settings)
    try:
        with TestClient(first) as one, TestClient(second) as other:
            post_message(one, message_xml(openid, "text", {"Content": "楼道堆满杂物"}, 1))
            post_message(other, message_xml(openid, "text", {"Content": "２"}, 2))
        return rasa.received[-1]["message"]
    finally:
        first.state.db.dispose()
        second.state.db.dispose()


def test_an_option_offered_by_one_replica_is_answered_on_another(settings, rasa, redis_addr):
    shared = settings.copy(update={
        "shared_state_url": f"redis://{redis_addr[0]}:{redis_addr[1]}/7"})
    assert _answer_elsewhere(shared, rasa) == "/deny"


def test_replicas_keeping_options_in_memory_read_the_number_as_text(settings, rasa):
    """The control: each app knows only its own offers."""
    assert _answer_elsewhere(settings, rasa) == "２"
