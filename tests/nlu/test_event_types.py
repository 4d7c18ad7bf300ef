"""nlu/event_types.py: Rasa's event classes by name from a table, with Rasa's answers."""
from __future__ import annotations

import pytest
from rasa.shared.core.events import Event, SlotSet, UserUttered
from rasa.shared.utils.common import all_subclasses

from nlu import event_types

rasas = event_types._ORIGINAL.__func__


@pytest.fixture
def installed():
    event_types.install()
    yield
    event_types.uninstall()


def test_every_event_name_gives_rasas_class(installed):
    names = {cls.type_name for cls in all_subclasses(Event)}
    assert len(names) > 20
    for name in names:
        assert Event.resolve_by_type(name) is rasas(name), name


def test_unknown_names_are_answered_as_rasa_answers_them(installed):
    assert Event.resolve_by_type("topic") is None
    assert Event.resolve_by_type("no_such_event", default=SlotSet) is SlotSet
    with pytest.raises(ValueError, match="no_such_event"):
        Event.resolve_by_type("no_such_event")
    with pytest.raises(ValueError):
        Event.from_parameters({"event": "no_such_event"})


def test_a_class_defined_after_the_first_lookup_is_found(installed):
    assert Event.resolve_by_type("slot") is SlotSet  # the table is filled now

    class LateEvent(SlotSet):
        type_name = "late_event_for_a_test"

    assert Event.resolve_by_type("late_event_for_a_test") is LateEvent


def test_events_read_through_the_table_equal_rasas(installed):
    stored = [SlotSet("place", "幸福里3号楼").as_dict(),
              UserUttered("路灯坏了", {"name": "report_livelihood", "confidence": 0.9}).as_dict()]
    read = [Event.from_parameters(e) for e in stored]
    event_types.uninstall()
    assert read == [Event.from_parameters(e) for e in stored]
