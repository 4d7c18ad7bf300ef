"""Cutting a message into its problems: where it may be cut, how the parts are grouped, and
floors on the team's measurement set with the real trained model."""
from __future__ import annotations

import asyncio

import pytest

from nlu.split import cut, problem_dicts, split_problems
from nlu.split_eval import load_set, measure

# Floors on tests/nlu/multi_problem.tsv (all 80 + 80 messages; the splitter was tuned on
# the dev half only). Measured at 91.2 % / 96.2 % with main's model when written; the
# targets of issue 14 are 90 % and 95 %.
SPLIT_FLOOR = 0.90
WHOLE_FLOOR = 0.95


def kinds(text: str) -> list[tuple[str, str]]:
    return [(p.cut, p.text) for p in cut(text)]


def test_a_connective_after_a_comma_starts_a_piece():
    assert kinds("小区门口的垃圾三天没人清了，另外3号楼的路灯也坏了") == [
        ("start", "小区门口的垃圾三天没人清了，"), ("connective", "另外3号楼的路灯也坏了")]


def test_enumerations_start_pieces_and_an_opening_stays_in_front():
    assert kinds("反映两个问题：一是电梯坏了，二是楼道堆满杂物") == [
        ("start", "反映两个问题："), ("enumeration", "一是电梯坏了，"),
        ("enumeration", "二是楼道堆满杂物")]
    assert [k for k, _ in kinds("1.路灯不亮；2.垃圾没人收")] == ["start", "enumeration"]


def test_sentence_ends_and_commas_are_cuts_but_building_numbers_are_not():
    assert [k for k, _ in kinds("3号楼电梯坏了。1楼门口堆满纸箱，过不去")] == [
        "start", "sentence", "comma"]
    assert kinds("幸福里小区3号楼楼道有人飞线充电") == [("start", "幸福里小区3号楼楼道有人飞线充电")]


def table(**answers: tuple[str, float]):
    """A classifier answering from a table: tests the grouping rules, not the model."""
    async def classify(text: str) -> list[dict]:
        for key, (intent, confidence) in answers.items():
            if key in text:
                return [{"name": intent, "confidence": confidence}]
        return [{"name": "out_of_scope", "confidence": 0.9}]
    return classify


async def test_a_remark_without_its_own_complaint_stays_with_the_problem_before_it():
    classify = table(垃圾=("report_sanitation", 0.95), 路灯=("report_livelihood", 0.9))
    result = await split_problems("垃圾三天没人收了。已经好几天了。另外路灯也坏了", classify)
    assert [(p.text, p.category) for p in result.problems] == [
        ("垃圾三天没人收了。已经好几天了。", "sanitation"), ("另外路灯也坏了", "livelihood")]


async def test_same_category_is_one_problem_unless_the_places_differ():
    classify = table(路灯=("report_livelihood", 0.9))
    same = await split_problems("3号楼的路灯坏了。另外3号楼门口的路灯也不亮", classify)
    assert not same.several
    apart = await split_problems("3号楼的路灯坏了。另外5号楼的路灯也不亮", classify)
    assert [p.place.building for p in apart.problems] == ["3号楼", "5号楼"]


async def test_a_weak_cut_needs_a_surer_classifier_than_a_connective():
    unsure = table(垃圾=("report_sanitation", 0.95), 门禁=("report_livelihood", 0.6))
    assert not (await split_problems("垃圾没人收，门禁也坏了", unsure)).several
    assert (await split_problems("垃圾没人收，另外门禁也坏了", unsure)).several


async def test_a_part_is_filed_without_the_comma_it_was_cut_before():
    classify = table(垃圾=("report_sanitation", 0.95), 路灯=("report_livelihood", 0.9))
    result = await split_problems("垃圾三天没人收了，另外路灯也坏了；", classify)
    assert [p["text"] for p in problem_dicts(result)] == ["垃圾三天没人收了", "另外路灯也坏了"]
    result = await split_problems("垃圾三天没人收了！另外路灯也坏了。", classify)
    assert [p["text"] for p in problem_dicts(result)] == ["垃圾三天没人收了！", "另外路灯也坏了。"]


@pytest.fixture(scope="module")
def classify(parser):
    async def parse(text: str) -> list[dict]:
        # the parser runs its own event loop, so it is called outside the test's
        return (await asyncio.to_thread(parser.parse, text)).get("intent_ranking") or []
    return parse


@pytest.mark.slow
async def test_the_issue_message_is_two_problems_with_the_real_model(classify):
    result = await split_problems("小区门口的垃圾三天没人清了，另外3号楼的路灯也坏了", classify)
    assert [p.category for p in result.problems] == ["sanitation", "livelihood"]
    assert result.problems[1].place.building == "3号楼"


@pytest.mark.slow
async def test_the_measurement_set_keeps_its_floors(classify):
    rows = load_set()
    assert sum(r.kind == "several" for r in rows) >= 50
    assert sum(r.kind == "single" for r in rows) >= 50
    score = await measure(rows, classify)
    print(f"split right {score.split_rate:.1%}, left whole {score.whole_rate:.1%}")
    assert score.split_rate >= SPLIT_FLOOR, "\n".join(score.misses)
    assert score.whole_rate >= WHOLE_FLOOR, "\n".join(score.misses)
