"""The end-to-end tests serve the NLU suite's session model (trained once per session and
cached by fingerprint): no second training. MINSHENG_E2E_MODEL=path/to/model.tar.gz serves
that model instead (for a quick local run while the training data is being edited)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.nlu.conftest import trained_model_path  # noqa: F401


@pytest.fixture(scope="session")
def served_model(request) -> Path:
    override = os.environ.get("MINSHENG_E2E_MODEL")
    if override:
        path = Path(override).resolve()
        assert path.is_file(), f"MINSHENG_E2E_MODEL={override} is not a file"
        return path
    return Path(request.getfixturevalue("trained_model_path")).resolve()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item (``rep_call``) so fixtures can print logs."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
