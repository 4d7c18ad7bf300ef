"""Password guessing is slowed per (user, address) and per address; the rightful user at
their own address is never locked out by someone guessing elsewhere."""
from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from tests.web.conftest import PASSWORD, login


def client_at(app, address: str) -> TestClient:
    return TestClient(app, client=(address, 50000))


def test_guessing_from_elsewhere_never_locks_the_rightful_admin_out(app, held_clock):
    attacker, admin = client_at(app, "203.0.113.9"), client_at(app, "198.51.100.7")
    answers = [login(attacker, "admin", f"guess-{n}").status_code for n in range(8)]
    assert answers == [401] * 5 + [429] * 3
    assert login(attacker, "admin", PASSWORD).status_code == 429  # even the right one
    assert login(admin, "admin", PASSWORD).status_code == 303


def test_spraying_one_password_across_usernames_is_stopped_per_address(app, held_clock):
    sprayer = client_at(app, "203.0.113.10")
    answers = [login(sprayer, f"user{n}", "Spring2026!").status_code for n in range(22)]
    assert answers[:20] == [401] * 20 and answers[20:] == [429, 429]
    assert login(client_at(app, "198.51.100.8"), "grid1", PASSWORD).status_code == 303


def test_a_successful_login_clears_that_users_failures_at_that_address(app, held_clock):
    user = client_at(app, "198.51.100.9")
    for _ in range(4):
        assert login(user, "grid1", "typo-typo").status_code == 401
    assert login(user, "grid1", PASSWORD).status_code == 303
    for _ in range(4):
        assert login(user, "grid1", "typo-again").status_code == 401  # counted afresh


def test_web_replicas_sharing_redis_see_the_same_failures(settings, world, redis_addr,
                                                          held_clock):
    from web.app import create_app

    shared = settings.copy(update={"shared_state_url": f"redis://{redis_addr[0]}:{redis_addr[1]}/5"})
    first, second = create_app(shared), create_app(shared)
    address = f"203.0.113.{uuid.uuid4().int % 250 + 1}"
    username = f"nobody-{uuid.uuid4().hex[:8]}"  # a fresh key on the shared server
    try:
        for _ in range(5):
            assert login(client_at(first, address), username, "x" * 9).status_code == 401
        assert login(client_at(second, address), username, "x" * 9).status_code == 429
    finally:
        first.state.db.dispose()
        second.state.db.dispose()
