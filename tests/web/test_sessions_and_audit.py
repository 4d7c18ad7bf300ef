"""Server-side sessions: logout and a password change end them, copied cookies included;
refused requests are written to the audit log."""
from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from minsheng.models import AuditEntry, WebUser
from minsheng.users import set_password
from tests.web.conftest import csrf_of, login, post


def copy_of(app, client: TestClient) -> TestClient:
    """Another browser holding a copy of ``client``'s cookies (a stolen session)."""
    thief = TestClient(app, follow_redirects=False)
    for name, value in client.cookies.items():
        thief.cookies.set(name, value)
    return thief


def test_logout_ends_the_session_for_a_copied_cookie_too(app, client):
    assert login(client, "admin").status_code == 303
    thief = copy_of(app, client)
    assert thief.get("/admin").status_code == 200
    assert post(client, "/logout").status_code == 303
    assert thief.get("/admin").status_code == 303  # back to the login page


def test_a_password_change_ends_every_session_of_that_user(app, client, db):
    assert login(client, "grid1").status_code == 303
    other_device = TestClient(app, follow_redirects=False)
    assert login(other_device, "grid1").status_code == 303
    with db.uow() as uow:
        set_password(uow, "grid1", "a-brand-new-password")
        uow.commit()
    assert client.get("/cases", follow_redirects=False).status_code == 303
    assert other_device.get("/cases").status_code == 303


def audit(db, action: str) -> list[tuple]:
    with db.uow() as uow:
        return [(e.actor, e.target) for e in uow.session.execute(
            select(AuditEntry).where(AuditEntry.action == action)).scalars()]


def test_a_refused_page_and_a_refused_form_are_in_the_audit_log(client, db):
    assert login(client, "grid1").status_code == 303
    assert client.get("/admin", follow_redirects=False).status_code == 403
    csrf_of(client)
    assert client.post("/logout", data={}, follow_redirects=False).status_code == 403
    with db.uow() as uow:
        grid1 = uow.session.execute(
            select(WebUser.id).where(WebUser.username == "grid1")).scalar_one()
    refused = audit(db, "refused")
    assert (f"user:{grid1}", "GET /admin") in refused
    assert (None, "POST /logout") in refused  # CSRF refused it before any user was known


def test_logins_and_failed_logins_are_audited(client, db):
    login(client, "admin", "not-the-password")
    login(client, "admin")
    assert [target for _, target in audit(db, "login_failed")] == ["admin"]
    assert len(audit(db, "login")) == 1


def test_over_https_the_session_and_csrf_cookies_are_secure(settings, world):
    from web.app import create_app

    app = create_app(settings.copy(update={"web_https": True}))
    try:
        client = TestClient(app, base_url="https://testserver", follow_redirects=False)
        csrf_set = client.get("/login").headers["set-cookie"]
        assert "csrftoken=" in csrf_set and "Secure" in csrf_set
        cookies = login(client, "admin").headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("minsheng_session="))
        assert "secure" in session.lower() and "httponly" in session.lower()
    finally:
        app.state.db.dispose()


def test_a_csrf_cookie_planted_in_the_browser_does_not_make_a_valid_form(app, client, db):
    """The token is bound to the signed session: one from another session is refused, even
    when the attacker also set it as this browser's cookie."""
    assert login(client, "admin").status_code == 303
    attacker = TestClient(app)
    attacker.get("/login")
    planted = attacker.cookies["csrftoken"]
    client.cookies.set("csrftoken", planted)
    response = client.post("/logout", data={"csrftoken": planted}, follow_redirects=False)
    assert response.status_code == 403 and "刷新" in response.text
    assert client.get("/admin", follow_redirects=False).status_code == 200  # still logged in
    victim = TestClient(app)  # a browser whose only csrftoken is the planted one
    victim.cookies.set("csrftoken", planted)
    set_cookies = victim.get("/login").headers.get_list("set-cookie")
    fresh = next(c for c in set_cookies if c.startswith("csrftoken="))
    assert planted not in fresh  # the page puts the cookie right


def test_every_response_carries_the_security_headers_and_pages_the_csp(client):
    """Pages, JSON errors and redirects get nosniff and the referrer policy; the API docs
    (which load their own scripts) are the one place without the content security policy."""
    from web.middleware import CSP

    for path in ("/login", "/chat/no-such-thing", "/cases"):
        response = client.get(path, follow_redirects=False)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "same-origin", path
        assert response.headers["content-security-policy"] == CSP, path
    docs = client.get("/docs")
    assert docs.status_code == 200 and "content-security-policy" not in docs.headers
    assert docs.headers["x-content-type-options"] == "nosniff"
