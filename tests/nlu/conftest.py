"""One training for the whole test session, reused while data, config and NLU code are unchanged.

A current model in models/ trained from the same fingerprint is used as it is; otherwise the
model is cached under tests/artefacts/nlu-models/<fingerprint>.tar.gz (git-ignored), so a
second run — or CI with that directory cached — trains nothing.
"""
import shutil
from pathlib import Path

import pytest

CACHE = Path(__file__).resolve().parents[1] / "artefacts" / "nlu-models"
# Evaluation reports of this run, by set name: printed in the terminal summary, so CI's log
# shows per-class F1 and the confusion matrix whether or not pytest captures output (-s).
EVAL_REPORTS = pytest.StashKey[dict]()


@pytest.fixture
def record_eval_report(request):
    """Call with (set name, nlu.evaluation.Report) to have it printed at the end of the run."""
    reports = request.config.stash.setdefault(EVAL_REPORTS, {})
    return reports.__setitem__


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    from nlu.evaluation import format_report

    reports = config.stash.get(EVAL_REPORTS, {})
    if not reports:
        return
    terminalreporter.section("NLU evaluation: per-class F1 and confusion matrix")
    for name, report in sorted(reports.items()):
        terminalreporter.write_line(f"[{name}] macro-F1 {report.macro_f1:.4f}, n {report.n}")
        for line in format_report(report).splitlines():
            terminalreporter.write_line("  " + line)
        terminalreporter.write_line("")


def _promoted_model_with(fingerprint: str) -> Path | None:
    """The current model in models/ when it was trained from exactly this data and config."""
    from minsheng.settings import load_settings
    from nlu import registry

    models_dir = Path(load_settings().models_dir)
    current = registry.current_model_path(models_dir)
    if current is None:
        return None
    entry = registry.load_registry(models_dir).entry(current.name)
    return current if entry.get("fingerprint") == fingerprint else None


@pytest.fixture(scope="session")
def trained_model_path(tmp_path_factory) -> Path:
    from nlu.training import quiet_rasa_logging, train_model, training_fingerprint

    quiet_rasa_logging()
    fingerprint = training_fingerprint()
    cached = CACHE / f"{fingerprint}.tar.gz"
    promoted = _promoted_model_with(fingerprint)
    if promoted is not None:
        return promoted
    if not cached.exists():
        trained = train_model(tmp_path_factory.mktemp("models"), name=f"minsheng-test-{fingerprint}")
        CACHE.mkdir(parents=True, exist_ok=True)
        for stale in CACHE.glob("*.tar.gz"):
            stale.unlink()
        shutil.copy(trained.path, cached)
    return cached


@pytest.fixture(scope="session")
def served_lexicon_path(tmp_path_factory) -> Path:
    """The place lexicon the session's parser reads (absent unless a test writes it)."""
    return tmp_path_factory.mktemp("lexicon") / "place_lexicon.json"


@pytest.fixture(scope="session")
def parser(trained_model_path, served_lexicon_path):
    from nlu.training import Parser

    # The served extractor reads the grid table's place names; the quality tests measure the
    # model alone, not whatever var/place_lexicon.json a `make run` left in the checkout.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MINSHENG_PLACE_LEXICON_PATH", str(served_lexicon_path))
        loaded = Parser(trained_model_path)
    yield loaded
    loaded.close()
