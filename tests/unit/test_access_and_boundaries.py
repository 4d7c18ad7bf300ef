"""Who may act on a case, and the package boundary: minsheng never imports Rasa."""
from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import minsheng
from minsheng.errors import NotFound
from minsheng.services import access, cases
from minsheng.services.staff import find_by_telegram
from tests.factories import T0, report

FORBIDDEN = ("rasa", "rasa_sdk", "bot", "web", "actions", "nlu")


@pytest.mark.parametrize(("key", "allowed"), [
    ("worker1", True),      # the assignee
    ("worker1b", False),    # a peer in the same grid
    ("worker2", False),     # another grid
    ("leader1", True),      # supervises the grid node itself
    ("desk", True), ("police", True), ("street", True),  # ancestor nodes
    ("admin", True),
])
def test_staff_may_act_on_cases_in_their_part_of_the_tree(db, world, key, allowed):
    with db.uow() as uow:
        case_no = cases.open_case(uow, report(), now=T0).case_no
    with db.uow() as uow:
        assert access.staff_may_act(uow, world.staff[key], case_no) is allowed


def test_an_unknown_case_or_staff_member(db, world):
    with db.uow() as uow:
        case_no = cases.open_case(uow, report(), now=T0).case_no
        assert access.staff_may_act(uow, 999, case_no) is False
        with pytest.raises(NotFound):
            access.staff_may_act(uow, world.staff["worker1"], "MS-20260101-0001")


def test_find_by_telegram(db, world):
    with db.uow() as uow:
        assert find_by_telegram(uow, 9001).id == world.staff["worker1"]
        assert find_by_telegram(uow, 123) is None


def test_no_module_under_minsheng_imports_rasa_or_the_outer_packages():
    root = Path(minsheng.__file__).parent
    pattern = re.compile(rf"^\s*(?:from|import)\s+({'|'.join(FORBIDDEN)})\b", re.MULTILINE)
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_importing_every_minsheng_module_loads_no_rasa():
    # a fresh interpreter, so other tests' imports do not count
    code = (
        "import importlib, pkgutil, sys, minsheng\n"
        "for m in pkgutil.walk_packages(minsheng.__path__, 'minsheng.'):\n"
        "    if '.migrations' not in m.name: importlib.import_module(m.name)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r})\n"
        "print(len([n for n in sys.modules if n.startswith('minsheng.')]), bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(minsheng.__file__).parent.parent, check=True).stdout
    loaded, bad = out.strip().split(" ", 1)
    assert int(loaded) > 20 and bad == "[]"


def test_the_walk_covers_the_services():
    names = {m.name for m in pkgutil.walk_packages(minsheng.__path__, "minsheng.")}
    assert {"minsheng.services.cases", "minsheng.services.stats"} <= names
    assert importlib.import_module("minsheng.services.cases").open_case
