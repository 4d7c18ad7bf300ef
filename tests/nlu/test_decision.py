"""Low confidence is a question: the category decision used by the dialogue."""
from nlu.decision import CATEGORIES, decide_category, label_of_intent


def ranking(*pairs):
    return [{"name": n, "confidence": c} for n, c in pairs]


def test_report_intents_map_to_categories_and_everything_else_to_out_of_scope():
    assert label_of_intent("report_clutter") == "clutter"
    assert label_of_intent("greet") == "out_of_scope"
    assert label_of_intent("report_weather") == "out_of_scope"


def test_a_confident_report_is_decided():
    decision = decide_category(ranking(("report_sanitation", 0.9), ("report_clutter", 0.1)), 0.55)
    assert decision.category == "sanitation"
    assert decision.ask_with_buttons is False
    assert decision.confidence == 0.9


def test_an_unsure_report_asks_with_all_seven_buttons_best_first():
    decision = decide_category(
        ranking(("report_clutter", 0.45), ("report_safety_hazard", 0.40), ("greet", 0.15)), 0.55)
    assert decision.category is None
    assert decision.ask_with_buttons is True
    assert [c.category for c in decision.candidates[:2]] == ["clutter", "safety_hazard"]
    assert sorted(c.category for c in decision.candidates) == sorted(CATEGORIES)


def test_nlu_fallback_is_ignored_when_ranking():
    decision = decide_category(
        ranking(("nlu_fallback", 0.55), ("report_dispute", 0.6), ("greet", 0.4)), 0.55)
    assert decision.category == "dispute"


def test_a_confident_non_report_is_neither_decided_nor_asked():
    decision = decide_category(ranking(("out_of_scope", 0.95), ("report_livelihood", 0.05)), 0.55)
    assert decision.category is None
    assert decision.ask_with_buttons is False


def test_an_unsure_non_report_asks_when_report_intents_outweigh_it():
    decision = decide_category(
        ranking(("out_of_scope", 0.4), ("report_livelihood", 0.35), ("report_sanitation", 0.25)),
        0.55)
    assert decision.ask_with_buttons is True
    assert decision.candidates[0].category == "livelihood"


def test_an_unsure_non_report_with_little_report_mass_is_not_asked():
    decision = decide_category(
        ranking(("greet", 0.4), ("thanks", 0.35), ("report_sanitation", 0.25)), 0.55)
    assert decision.ask_with_buttons is False


def test_an_empty_ranking_asks():
    assert decide_category([], 0.55).ask_with_buttons is True
