"""The rule entity extractor on hand-written cases, and the Rasa component around it."""
from pathlib import Path

import pytest
import yaml

from nlu.entities import clean_xiaoqu, extract_entities, find_phones, find_times

CASES = yaml.safe_load((Path(__file__).parent / "entity_cases.yml").read_text(encoding="utf-8"))


def _expected(case):
    pairs = set()
    for entity, value in (case.get("entities") or {}).items():
        for v in value if isinstance(value, list) else [value]:
            pairs.add((entity, str(v)))
    return pairs


@pytest.mark.parametrize("case", CASES, ids=[c["text"][:14] for c in CASES])
def test_each_hand_written_case_gives_exactly_the_expected_entities(case):
    found = {(e.entity, e.value) for e in extract_entities(case["text"])}
    assert found == _expected(case)


def test_spans_point_at_the_text_the_value_came_from():
    text = "幸福里小区三号楼2单元502室，电话138 1234-5678"
    spans = {e.entity: text[e.start:e.end] for e in extract_entities(text)}
    assert spans == {"xiaoqu": "幸福里小区", "building": "三号楼", "unit": "2单元",
                     "room": "502室", "phone": "138 1234-5678"}


def test_phone_numbers_are_normalised_to_digits_and_need_a_mobile_prefix():
    assert [p.value for p in find_phones("电话 186-1234-0000")] == ["18612340000"]
    assert find_phones("座机 010-12345678") == []
    assert find_phones("12812345678") == []  # 12x is not a mainland mobile prefix


def test_a_bare_chinese_clock_word_is_not_a_time():
    assert find_times("麻烦快一点") == []
    assert [t.value for t in find_times("晚上一点还在吵")] == ["晚上一点"]


def test_estate_names_lose_leading_words_that_are_not_part_of_the_name():
    assert clean_xiaoqu("我是翠苑小区") == "翠苑小区"
    assert clean_xiaoqu("星期三下午小区") is None


def test_rasa_component_adds_entities_with_its_name():
    from rasa.shared.nlu.training_data.message import Message

    from nlu.components import MinshengEntityExtractor

    component = MinshengEntityExtractor({"entities": ["building", "phone"]})
    message = Message(data={"text": "12栋楼下，电话13900001111，昨天晚上"})
    component.process([message])
    entities = message.get("entities")
    assert [(e["entity"], e["value"]) for e in entities] == [
        ("building", "12号楼"), ("phone", "13900001111")]
    assert all(e["extractor"] == "MinshengEntityExtractor" for e in entities)


def test_numbers_are_reduced_to_their_shape_for_the_featurizers():
    from nlu.components import PHONE_SHAPE, token_shape

    assert token_shape("K11", inside_phone=False) == "K0"
    assert token_shape("2019年", inside_phone=False) == "0年"
    assert token_shape("138", inside_phone=True) == PHONE_SHAPE


def test_the_normaliser_sets_lemmas_from_the_message_text():
    from rasa.nlu.constants import TOKENS_NAMES
    from rasa.nlu.tokenizers.tokenizer import Token
    from rasa.shared.nlu.training_data.message import Message

    from nlu.components import PHONE_SHAPE, NumberShapeNormaliser

    text = "3号楼 电话 138 1234 5678"
    tokens = [Token("3", 0), Token("号楼", 1), Token("电话", 4), Token("138", 7),
              Token("1234", 11), Token("5678", 16)]
    message = Message(data={"text": text, TOKENS_NAMES["text"]: tokens})
    NumberShapeNormaliser().process([message])
    assert [t.lemma for t in tokens] == ["0", "号楼", "电话", PHONE_SHAPE, PHONE_SHAPE, PHONE_SHAPE]
