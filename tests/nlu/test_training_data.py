"""The training data's layout: one folder per category, no example twice, no text under
two intents. Reads the YAML directly (no Rasa, no model): fast."""
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from nlu.data_files import (
    CONVERSATION,
    NLU_DIR,
    REPORT_PREFIX,
    examples_in,
    expected_folders,
    folder_intents,
    read_examples,
)

EXAMPLES = read_examples()


def test_every_file_is_in_a_category_or_conversation_folder():
    loose = [p.name for p in NLU_DIR.glob("*.yml")]
    folders = {p.name for p in NLU_DIR.iterdir() if p.is_dir()}
    assert loose == [], "files directly under data/nlu/: put them in a folder"
    assert folders == expected_folders()


@pytest.mark.parametrize("folder", sorted(expected_folders() - {CONVERSATION}))
def test_a_category_folder_holds_only_its_own_intent(folder):
    intents = {e.intent for e in EXAMPLES if e.path.parent.name == folder}
    assert intents == folder_intents(folder)


def test_conversation_holds_no_report_and_no_out_of_scope():
    intents = {e.intent for e in EXAMPLES if e.path.parent.name == CONVERSATION}
    assert intents and not {i for i in intents
                            if i.startswith(REPORT_PREFIX) or i == "out_of_scope"}


@pytest.mark.parametrize("folder", sorted(expected_folders() - {CONVERSATION, "out_of_scope"}))
def test_each_category_has_chat_and_letter_examples(folder):
    files = Counter(e.path.name for e in EXAMPLES if e.path.parent.name == folder)
    assert files["chat.yml"] >= 20 and files["letters.yml"] >= 20, files


def test_no_example_is_written_twice():
    seen = Counter((e.intent, e.text) for e in EXAMPLES)
    twice = {pair: n for pair, n in seen.items() if n > 1}
    assert twice == {}


def test_no_text_is_filed_under_two_intents():
    intents = defaultdict(set)
    for example in EXAMPLES:
        intents[example.text].add(example.intent)
    assert {text: sorted(i) for text, i in intents.items() if len(i) > 1} == {}


def test_the_checks_see_a_duplicate_and_a_conflict(tmp_path: Path):
    """The reader the checks rely on finds both mistakes in a file made for it."""
    text = ('version: "3.1"\nnlu:\n- intent: report_clutter\n  examples: |\n'
            "    - 楼道堆满纸箱\n    - 楼道堆满纸箱\n"
            "- intent: report_sanitation\n  examples: |\n    - 楼道堆满纸箱\n")
    found = examples_in(text, tmp_path / "x.yml")
    assert Counter((e.intent, e.text) for e in found)[("report_clutter", "楼道堆满纸箱")] == 2
    assert {e.intent for e in found if e.text == "楼道堆满纸箱"} == {
        "report_clutter", "report_sanitation"}


def test_the_reader_sees_as_many_examples_as_rasa():
    from rasa.shared.nlu.training_data.loading import load_data

    rasa_pairs = Counter((m.get("intent"), m.get("text"))
                         for m in load_data(str(NLU_DIR)).intent_examples)
    assert Counter((e.intent, e.text) for e in EXAMPLES) == rasa_pairs
