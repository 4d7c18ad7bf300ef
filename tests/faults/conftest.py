"""The fault suite serves the session's trained model (tests/nlu/conftest.py), as the
end-to-end tests do: no second training. One fault table for the session: both stacks
(SQLite, and PostgreSQL with Redis) add their rows; it is printed and written at the end."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import pytest_runtest_makereport, served_model  # noqa: F401
from tests.e2e.harness import print_logs_if_failed
from tests.nlu.conftest import trained_model_path  # noqa: F401


@pytest.fixture(scope="session")
def table():
    from tests.faults.test_faults import TABLE, format_table

    rows: list = []
    yield rows
    text = format_table(rows)
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    TABLE.write_text(text + "\n", encoding="utf-8")
    print("\n\n" + text + f"\n(written to {TABLE})")


@pytest.fixture
def logs_on_failure(stack, request):
    """Every process's log printed under a failed case (``stack``: the module's stack)."""
    yield
    print_logs_if_failed(request, stack.logs)
