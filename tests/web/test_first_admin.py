"""`make run` creates the first console admin once, with a password that logs in."""
from minsheng.users import authenticate, ensure_first_admin


def test_first_admin_is_created_once_and_its_password_logs_in(db):
    with db.uow() as uow:
        password = ensure_first_admin(uow)
    assert password and len(password) >= 8
    with db.uow() as uow:
        assert ensure_first_admin(uow) is None  # a second start adds nobody
        user = authenticate(uow, "admin", password)
    assert user is not None and user.role == "admin"


def test_no_first_admin_when_a_login_exists(db, world):
    with db.uow() as uow:
        assert ensure_first_admin(uow) is None
