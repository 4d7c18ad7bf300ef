"""nlu/slot_copies.py: a slot copied by ``__copy__`` is what ``copy.copy`` made before."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

from nlu import slot_copies

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def slots():
    return Domain.load(str(ROOT / "domain.yml")).slots


def test_every_slot_of_the_domain_copies_as_before(slots):
    before = [copy.copy(s) for s in slots]
    slot_copies.install()
    try:
        after = [copy.copy(s) for s in slots]
    finally:
        slot_copies.uninstall()
    assert len({type(s) for s in slots}) >= 4  # text, bool, list, categorical, any…
    for original, old, new in zip(slots, before, after):
        assert type(new) is type(old) and new.__dict__ == old.__dict__, original.name
        assert new is not original and new.__dict__ is not original.__dict__


def test_a_trackers_slots_are_its_own(slots):
    slot_copies.install()
    try:
        first, second = DialogueStateTracker("a", slots), DialogueStateTracker("b", slots)
    finally:
        slot_copies.uninstall()
    first.slots["place"].value = "幸福里3号楼"
    assert second.slots["place"].value is None
    assert next(s for s in slots if s.name == "place").value is None
