"""Rasa's own checks of the dialogue: data validation and the test stories."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RASA = [sys.executable, "-m", "rasa"]


def run_rasa(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([*RASA, *args], cwd=ROOT, capture_output=True, text=True, check=False,
                          timeout=timeout)


@pytest.mark.slow
def test_rasa_data_validate_finds_no_errors():
    result = run_rasa("data", "validate", "--domain", "domain.yml", "--data", "data")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.slow
def test_every_test_story_is_predicted_by_the_trained_model(trained_model_path, tmp_path):
    result = run_rasa("test", "core", "--model", str(trained_model_path),
                      "--stories", "tests/test_stories.yml", "--fail-on-prediction-errors",
                      "--out", str(tmp_path / "results"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-4000:]
