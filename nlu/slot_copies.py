"""Rasa's slots copied by copying their attributes, as ``copy.copy`` does, without its
generic machinery.

Every new ``DialogueStateTracker`` copies each slot of the domain (32 here) with
``copy.copy``, which goes through ``__reduce_ex__`` and ``copyreg`` for each one: 81 µs a
tracker, and a web chat turn builds several (a form's temporary tracker, the policies'
copies). For a class with neither ``__copy__``, ``__slots__`` nor ``__setstate__`` (Slot and
its subclasses on Python 3.10) ``copy.copy`` makes a new instance with ``cls.__new__`` and
updates its ``__dict__`` with the original's; ``__copy__`` below does exactly that.
Installed by nlu/rasa_run.py for the serving process.
"""
from __future__ import annotations

from rasa.shared.core.slots import Slot


def _copy(slot: Slot) -> Slot:
    cls = type(slot)
    new = cls.__new__(cls)
    new.__dict__.update(slot.__dict__)
    return new


def install() -> None:
    Slot.__copy__ = _copy


def uninstall() -> None:
    if Slot.__dict__.get("__copy__") is _copy:
        del Slot.__copy__
