"""The scale-out suite serves the e2e suite's cached model (tests/e2e/conftest.py)."""
from tests.e2e.conftest import pytest_runtest_makereport, served_model  # noqa: F401
from tests.nlu.conftest import trained_model_path  # noqa: F401
