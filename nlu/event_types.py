"""Rasa's event classes looked up by type name in a table, not found anew for every event.

``Event.resolve_by_type`` walks every subclass of ``Event`` (recursively, asking
``inspect.isabstract`` of each) to turn ``{"event": "slot", …}`` into ``SlotSet``, and Rasa
calls it for every event it reads: each event of an action server's reply, each event of a
conversation read from the tracker store. Here the answer is the same class, the first
subclass in Rasa's own order with that name, kept in a table. A name the table lacks makes
it look again (a subclass imported since), and then fails the way Rasa fails.
Installed by nlu/rasa_run.py for the serving process.
"""
from __future__ import annotations

from rasa.shared.core.events import Event
from rasa.shared.utils.common import all_subclasses

_ORIGINAL = Event.__dict__["resolve_by_type"]
_by_name: dict[str, type[Event]] = {}


def _fill() -> None:
    found: dict[str, type[Event]] = {}
    for cls in all_subclasses(Event):
        found.setdefault(cls.type_name, cls)  # the first one wins, as in Rasa's loop
    _by_name.clear()
    _by_name.update(found)


def resolve_by_type(type_name: str,
                    default: type[Event] | None = None) -> type[Event] | None:
    cls = _by_name.get(type_name)
    if cls is None:
        _fill()
        cls = _by_name.get(type_name)
    if cls is not None:
        return cls
    return _ORIGINAL.__func__(type_name, default)  # Rasa's answer for unknown names


def install() -> None:
    Event.resolve_by_type = staticmethod(resolve_by_type)


def uninstall() -> None:
    Event.resolve_by_type = _ORIGINAL
