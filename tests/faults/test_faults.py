"""Keep serving through crashes and outages: faults injected into the real stack.

One stack for the module (tests/faults/stack.py: every process under the real supervisord
with minsheng/processes.py's configuration). Each case plays a journey over Telegram with
a new resident and injects one fault at one step:

- ``kill -9`` of the gateway, Rasa, the action server, the web process or the scheduler,
  right after the resident's first message is stored (before it is answered), after the
  second update (mid-form), right after the confirming press; in the staff journey right
  after the 签收 press and right after the 办结 note. supervisord restarts the process; the
  resident and staff member keep going as people would, with generous timeouts (Rasa
  takes its model load time to come back).
- an SQLite write lock held 40 s (a second connection, ``BEGIN EXCLUSIVE``) mid-journey.

tests/faults/test_server_restarts.py runs the same journeys on PostgreSQL and Redis and
restarts each server mid-journey; its rows join the same table.

After recovery every update must be answered exactly once (inbound rows, Rasa's tracker,
the Bot API's sent messages against the outbox rows), every case must exist once and
every notice must be delivered once. The table of fault × step → lost, doubled,
unanswered and the times to recover is printed at the end (``-s``) and written to
tests/artefacts/fault_table.txt. ``web s`` is how long a web chat message sent at the
moment of the fault took to be answered (the issue's target: 10 s, Rasa its load time).
"""
from __future__ import annotations

import itertools
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from minsheng.services.outbox import CLAIM_LEASE_SECONDS
from tests.e2e.harness import rasa_budget
from tests.faults.journeys import (
    Journey,
    count,
    crash_copies,
    first_answer_after,
    now,
    sends_of,
    settle,
)
from tests.faults.stack import STAFF_TG, running_stack
from tests.faults.webprobe import WebChatProbe

pytestmark = [pytest.mark.faults, pytest.mark.slow]

VICTIMS = ("gateway", "rasa", "actions", "web", "scheduler")
TABLE = Path(__file__).resolve().parents[1] / "artefacts" / "fault_table.txt"
SERVERS = ("postgres", "redis")
SERVER_DOWN = 5.0  # seconds a restarted server stays down
LOCK_SECONDS = 40.0
WEB_BUDGET = 10.0  # the target for the web chat after a single kill
_chats = itertools.count(6400001)


@dataclass
class Row:
    fault: str
    step: str
    lost: int = 0
    doubled: int = 0
    unanswered: int = 0
    recover: float | None = None  # the fault → the journey's next answer
    back: float | None = None     # the kill → the process running and answering again
    web: float | None = None      # the fault → a web chat message answered
    notes: str = ""


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def format_table(rows: list[Row]) -> str:
    head = (f"{'fault':<16} {'step':<14} {'lost':>4} {'doubled':>7} {'unanswered':>10} "
            f"{'recover s':>9} {'back s':>7} {'web s':>6}  notes")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.fault:<16} {r.step:<14} {r.lost:>4} {r.doubled:>7} "
                     f"{r.unanswered:>10} {_fmt(r.recover):>9} {_fmt(r.back):>7} "
                     f"{_fmt(r.web):>6}  {r.notes}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, served_model):
    with running_stack(tmp_path_factory.mktemp("faults"), served_model) as built:
        yield built


class Injector:
    """The fault, run when the journey reaches its step; measures the recovery."""

    def __init__(self, stack, victim: str, at: str, watch_chat: int) -> None:
        self.stack, self.victim, self.at, self.watch_chat = stack, victim, at, watch_chat
        self.fired_at: float | None = None
        self.killed_at: float | None = None  # a process's kill: when the signal had gone
        self.back: float | None = None
        self.probe: WebChatProbe | None = None
        self._threads: list[threading.Thread] = []

    def __call__(self, step: str) -> None:
        if step != self.at or self.fired_at is not None:
            return
        self.fired_at = now()
        self.probe = WebChatProbe(f"http://127.0.0.1:{self.stack.ports.web}",
                                  timeout=rasa_budget() + 120)
        if self.victim == "sqlite-lock":
            self._threads.append(self.stack.hold_write_lock(LOCK_SECONDS))
            self.probe.start()
            return
        if self.victim in SERVERS:
            thread = threading.Thread(target=self._restart_server, daemon=True)
            thread.start()
            self._threads.append(thread)
            self.probe.start()
            return
        old = self.stack.kill(self.victim)
        # the SIGKILL went after a call to supervisord for the pid: the victim worked on
        # until this moment, not until fired_at
        self.killed_at = now()
        self.probe.start()
        thread = threading.Thread(target=self._measure_back, args=(old,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def _restart_server(self) -> None:
        started = now()
        getattr(self.stack, self.victim).restart(SERVER_DOWN)
        self.back = now() - started

    def _measure_back(self, old_pid: int) -> None:
        self.back = self.stack.wait_back(self.victim, old_pid, rasa_budget() + 120)

    def finish(self, row: Row) -> None:
        for thread in self._threads:
            thread.join(rasa_budget() + 150)
        row.back = self.back
        row.web = self.probe.join() if self.probe else None
        if self.fired_at is not None:
            row.recover = first_answer_after(self.stack, self.watch_chat, self.fired_at)
        else:
            row.notes += "fault step not reached; "


def run_case(stack, table, fault: str, step: str, staff: bool) -> None:
    chat = next(_chats)
    watch = STAFF_TG if step == "ack" else chat  # after 办结: the rating prompt
    injector = Injector(stack, fault, step, watch)
    journey = Journey(stack, chat, injector)
    row = Row(fault, step)
    table.append(row)
    stopped = ""
    try:
        steps = {"first": {1: "first"}, "middle": {2: "middle"}}.get(step, {})
        journey.report(steps, confirm_step="confirm" if step == "confirm" else None)
        if staff:
            journey.staff_handles(ack_step="ack" if step == "ack" else None,
                                  resolve_step="resolve" if step == "resolve" else None)
    except AssertionError as error:
        stopped = f"journey stopped: {str(error)[:160]}"
    finally:
        injector.finish(row)
        settle(stack, [chat, STAFF_TG])
        found = count(stack, journey)
        if fault == "gateway" and injector.killed_at is not None:
            # The one double a killed gateway may leave, as in the scale-out test: a row
            # Telegram took just before the kill, not yet recorded, sent again when its
            # lease ran out (Telegram has no idempotent send). Printed, not failed.
            texts = crash_copies(stack.bot_api, chat, injector.killed_at, CLAIM_LEASE_SECONDS)
            crash = [m for m in found.doubled if any(repr(t[:40]) in m for t in texts)]
            found.doubled = [m for m in found.doubled if m not in crash]
            if crash:
                print(f"\n{fault}-{step}: sent again after the gateway's crash: {crash}")
            if found.doubled:  # when, against the kill: what tells a crash copy from a fault
                row.notes += "sent at (s after the kill): " + "; ".join(
                    f"{text[:12]!r} {[round(c.at - injector.killed_at, 1) for c in calls]}"
                    for text, calls in sends_of(stack.bot_api, chat).items()
                    if len(calls) > 1) + "; "
        if stopped:
            found.unanswered.append(stopped)
        row.lost, row.doubled, row.unanswered = found.totals()
        row.notes += "; ".join(found.lost + found.doubled + found.unanswered)[:300]
        # Every journey reports the same problem at the same place: an open case would
        # take the next journey's report as a duplicate (merged). Withdraw what is open.
        stack.query("UPDATE cases SET state = 'withdrawn' WHERE state IN "
                    "('new', 'assigned', 'acknowledged', 'in_progress', 'reopened')")
    assert found.totals() == (0, 0, 0), (found, row)
    assert not row.notes, row.notes
    if fault == "web":
        assert row.web is not None and row.web <= WEB_BUDGET, row


KILLS = [(v, s, False) for v in VICTIMS for s in ("first", "middle", "confirm")]
STAFF = [(v, "ack", True) for v in VICTIMS] + [(v, "resolve", True)
                                              for v in ("gateway", "rasa", "actions")]
LOCKS = [("sqlite-lock", "middle", True)]
# The whole matrix took ~30 min on 2 cores when a killed gateway's updates waited 60 s
# (now its lease, ~15 s; not measured since); each Rasa kill costs its model load. By
# default a sample that kills every process in the resident and the staff journey runs in
# ~7 min (with the server restarts ~10 min); MINSHENG_FAULTS=full runs every cell.
SAMPLE = {("gateway", "first"), ("gateway", "confirm"), ("gateway", "ack"),
          ("rasa", "first"), ("rasa", "confirm"),
          ("actions", "first"), ("actions", "middle"), ("actions", "confirm"),
          ("actions", "ack"), ("actions", "resolve"),
          ("web", "first"), ("web", "ack"), ("scheduler", "first"), ("scheduler", "ack"),
          ("sqlite-lock", "middle")}
FULL = os.environ.get("MINSHENG_FAULTS", "").lower() == "full"
CASES = [c for c in KILLS + STAFF + LOCKS if FULL or (c[0], c[1]) in SAMPLE]


@pytest.mark.parametrize("fault,step,staff", CASES, ids=[f"{f}-{s}" for f, s, _ in CASES])
def test_the_journey_survives_the_fault_with_nothing_lost_or_doubled(
        stack, table, logs_on_failure, fault, step, staff):
    run_case(stack, table, fault, step, staff)
