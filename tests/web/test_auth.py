"""Logins, sessions and CSRF."""
from tests.web.conftest import PASSWORD, csrf_of, login


def test_a_correct_password_logs_in_and_redirects(client):
    response = login(client, "admin")
    assert response.status_code == 303
    assert response.headers["location"] == "/cases"
    assert client.get("/").text.count("admin") >= 1


def test_a_wrong_password_is_refused_with_a_chinese_message(client):
    response = login(client, "admin", "wrong-password")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text
    assert "uid" not in client.cookies.get("minsheng_session", "")


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(client):
    response = login(client, "nobody", PASSWORD)
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text


def test_five_wrong_passwords_lock_the_account_for_a_while(client):
    for _ in range(5):
        assert login(client, "grid1", "nope-nope").status_code == 401
    response = login(client, "grid1", PASSWORD)
    assert response.status_code == 429
    assert "5 分钟" in response.text


def test_a_login_form_without_the_csrf_token_is_refused(client):
    csrf_of(client)
    response = client.post("/login", data={"username": "admin", "password": PASSWORD})
    assert response.status_code == 403


def test_a_csrf_token_from_another_browser_is_refused(client, app):
    from fastapi.testclient import TestClient

    with TestClient(app) as other:
        foreign = csrf_of(other)
    csrf_of(client)
    response = client.post("/login", data={"username": "admin", "password": PASSWORD,
                                           "csrftoken": foreign})
    assert response.status_code == 403


def test_console_pages_redirect_to_login_without_a_session(client):
    response = client.get("/cases", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_logout_ends_the_session(client):
    login(client, "admin")
    client.post("/logout", data={"csrftoken": csrf_of(client)})
    assert client.get("/admin", follow_redirects=False).status_code == 303


def test_an_open_redirect_after_login_is_refused(client):
    response = client.post("/login", data={"username": "admin", "password": PASSWORD,
                                           "csrftoken": csrf_of(client),
                                           "next": "//evil.example/"},
                           follow_redirects=False)
    assert response.headers["location"] == "/cases"
