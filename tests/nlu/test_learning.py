"""Review export, labelled rows, and deduplicated learning into learned.yml (no training)."""
import pytest

from minsheng.db import Database
from minsheng.models import Base, NluMessage
from minsheng.nlu_log import export_review, record_correction, record_prediction
from nlu.learning import (
    add_learned_examples,
    intent_for_label,
    read_labelled_rows,
    write_review_tsv,
)

NLU_YAML = """version: "3.1"
nlu:
- intent: report_clutter
  examples: |
    - 楼道里堆满了纸箱
- intent: greet
  examples: |
    - 你好
"""


@pytest.fixture
def database(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'nlu.db'}")
    Base.metadata.create_all(db.engine)
    yield db
    db.dispose()


def test_review_exports_low_confidence_and_corrected_messages_once(database):
    with database.uow() as uow:
        sure = record_prediction(uow, "telegram", "u1", "楼道堆满杂物", "clutter", 0.95)
        unsure = record_prediction(uow, "web", "u2", "那边有点乱", "clutter", 0.40)
        wrong = record_prediction(uow, "telegram", "u3", "井盖没了", "sanitation", 0.90, case_id=None)
        confirmed = record_prediction(uow, "telegram", "u4", "垃圾没人收", "sanitation", 0.90)
        uow.commit()
    with database.uow() as uow:
        assert record_correction(uow, "safety_hazard", "staff:7", message_id=wrong.id) == 1
        record_correction(uow, "sanitation", "staff:7", message_id=confirmed.id)
        uow.commit()
    with database.uow() as uow:
        rows = export_review(uow, 0.55)
        uow.commit()
    assert [r.id for r in rows] == [unsure.id, wrong.id]
    assert rows[1].corrected == "safety_hazard"
    assert sure.id not in [r.id for r in rows]
    with database.uow() as uow:
        assert export_review(uow, 0.55) == []


def test_a_correction_by_case_updates_that_cases_messages(database):
    with database.uow() as uow:
        record_prediction(uow, "telegram", "u1", "楼顶加盖", "clutter", 0.7)
        uow.commit()
    with database.uow() as uow:
        with pytest.raises(ValueError):
            record_correction(uow, "dispute", "staff:1")
        assert record_correction(uow, "dispute", "staff:1", case_id=999) == 0
        message = uow.session.get(NluMessage, 1)
        assert message.corrected_label is None


def test_review_file_round_trip_takes_the_label_or_else_the_correction(tmp_path, database):
    with database.uow() as uow:
        record_prediction(uow, "telegram", "u1", "那边\t有点乱", "clutter", 0.3)
        record_prediction(uow, "telegram", "u2", "门口好多车", "clutter", 0.3)
        record_prediction(uow, "telegram", "u3", "今天天气好", "clutter", 0.3)
        uow.commit()
        rows = export_review(uow, 0.55)
    path = tmp_path / "review.tsv"
    write_review_tsv(rows, path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id\tlabel\tpredicted\tconfidence\tcorrected\ttext"
    filled = [lines[0], lines[1].replace("\t\tclutter", "\tsanitation\tclutter", 1),
              lines[2], lines[3].replace("\t\tclutter", "\tout_of_scope\tclutter", 1)]
    path.write_text("\n".join(filled) + "\n", encoding="utf-8")
    assert read_labelled_rows(path) == [("那边 有点乱", "report_sanitation"),
                                        ("今天天气好", "out_of_scope")]


def test_labels_are_category_codes_intents_or_refused():
    assert intent_for_label("clutter") == "report_clutter"
    assert intent_for_label("report_dispute") == "report_dispute"
    assert intent_for_label("greet", {"greet"}) == "greet"
    with pytest.raises(ValueError):
        intent_for_label("weather")


def test_learning_skips_examples_already_in_any_nlu_file_and_repeats(tmp_path):
    (tmp_path / "clutter").mkdir()
    (tmp_path / "clutter" / "chat.yml").write_text(NLU_YAML, encoding="utf-8")
    added, skipped = add_learned_examples([
        ("楼道里堆满了纸箱 ", "report_clutter"),  # same text, extra space
        ("小区门口的共享单车堆成山", "report_clutter"),
        ("小区门口的共享单车堆成山", "report_clutter"),
        ("你好", "greet"),
    ], tmp_path)
    assert added == [("小区门口的共享单车堆成山", "report_clutter")]
    assert skipped == 3
    learned = (tmp_path / "clutter" / "learned.yml").read_text(encoding="utf-8")
    assert "小区门口的共享单车堆成山" in learned
    added_again, skipped_again = add_learned_examples(
        [("小区门口的共享单车堆成山", "report_clutter"), ("井盖丢了", "report_safety_hazard")],
        tmp_path)
    assert added_again == [("井盖丢了", "report_safety_hazard")] and skipped_again == 1
    from rasa.shared.nlu.training_data.loading import load_data

    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("learned.yml")) \
        == ["clutter/learned.yml", "safety_hazard/learned.yml"]  # each in its category's folder
    examples = load_data(str(tmp_path)).intent_examples
    learned = [m.get("text") for m in examples if m.get("text") not in ("楼道里堆满了纸箱", "你好")]
    assert sorted(learned) == ["井盖丢了", "小区门口的共享单车堆成山"]


def test_a_logged_intent_lookalike_with_quotes_and_tabs_round_trips_through_the_review_file(
        tmp_path, database):
    # (a text that starts with the slash is a button press and never reviewed: see below)
    typed = '看这里 /report_clutter{"description": "楼道\t堆满 \\"杂物\\""}'
    with database.uow() as uow:
        record_prediction(uow, "telegram", "u1", typed, "clutter", 0.2)
        uow.commit()
        rows = export_review(uow, 0.55)
    path = tmp_path / "review.tsv"
    assert write_review_tsv(rows, path) == 1
    header, line = path.read_text(encoding="utf-8").splitlines()
    path.write_text(header + "\n" + line.replace("\t\tclutter", "\tclutter\tclutter", 1) + "\n",
                    encoding="utf-8")
    assert read_labelled_rows(path) == [(" ".join(typed.split()), "report_clutter")]


@pytest.mark.parametrize("payload", ["/rate_satisfied", "／rate_satisfied", " /affirm"])
def test_button_payloads_are_not_offered_for_review(database, payload):
    with database.uow() as uow:
        record_prediction(uow, "web", "u1", payload, "out_of_scope", 0.2)
        words = record_prediction(uow, "web", "u1", "门口那堆东西谁管", "clutter", 0.2)
        uow.commit()
    with database.uow() as uow:
        assert [r.id for r in export_review(uow, 0.55)] == [words.id]
