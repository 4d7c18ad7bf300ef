"""The fault suite serves the session's trained model (tests/nlu/conftest.py), as the
end-to-end tests do: no second training."""
from __future__ import annotations

from tests.e2e.conftest import pytest_runtest_makereport, served_model  # noqa: F401
from tests.nlu.conftest import trained_model_path  # noqa: F401
