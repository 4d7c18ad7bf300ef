"""What every action needs: settings and database (built once, lazily), who is talking,
what the latest message said, and turning domain errors into a Chinese reply."""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from minsheng.enums import split_sender
from nlu.decision import REPORT_PREFIX

log = logging.getLogger(__name__)

REPORT_INTENT_PREFIX = REPORT_PREFIX  # the one in nlu.decision
SKIPPED = "-"  # value of an optional slot the resident chose to skip
MOBILE = re.compile(r"^1[3-9]\d{9}$")

# Messages that steer the conversation and so never fill a form slot.
CONTROL_INTENTS = frozenset(
    {"cancel", "help", "human_handoff", "emergency", "check_status", "withdraw", "start_report"}
)

_state: dict[str, Any] = {}


def configure(settings=None, database=None) -> None:
    """Use these settings / this database (tests, or an embedding process)."""
    _state.clear()
    if settings is not None:
        _state["settings"] = settings
    if database is not None:
        _state["database"] = database


def settings():
    """The process-wide settings, built on first use (never at import time)."""
    if "settings" not in _state:
        from minsheng.settings import load_settings

        _state["settings"] = load_settings()
    return _state["settings"]


def database():
    if "database" not in _state:
        from minsheng.db import Database

        _state["database"] = Database(settings().database_url)
    return _state["database"]


@contextmanager
def unit_of_work() -> Iterator[Any]:
    with database().uow() as uow:
        yield uow


def resident_of(tracker: Tracker):
    from minsheng.services.cases import ResidentRef

    channel, external_id = split_sender(tracker.sender_id)
    metadata = tracker.get_slot("session_started_metadata") or {}
    latest = latest_user_event(tracker) or {}
    metadata = {**metadata, **(latest.get("metadata") or {})}
    return ResidentRef(channel, external_id, display_name=metadata.get("display_name"))


def latest_user_event(tracker: Tracker) -> dict | None:
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return event
    return None


def message_key(tracker: Tracker) -> str:
    """A stable id of the latest user message (the NLU log keys its row by it)."""
    from minsheng.nlu_log import message_key as key_of_event

    return key_of_event(latest_user_event(tracker) or {})


def latest_intent(tracker: Tracker) -> str:
    return (tracker.latest_message.get("intent") or {}).get("name") or ""


def latest_text(tracker: Tracker) -> str:
    text = (tracker.latest_message.get("text") or "").strip()
    # Button payloads ("/intent{...}") and trigger_intent messages carry no words.
    if text.startswith(("/", "EXTERNAL: ")):
        return ""
    return text


def entity(tracker: Tracker, name: str) -> Any:
    return next(tracker.get_latest_entity_values(name), None)


def anonymous_asked(tracker: Tracker) -> bool:
    """The resident pressed 「匿名提交」 (``/affirm{"field": "anonymous"}``) just now."""
    return latest_intent(tracker) == "affirm" and entity(tracker, "field") == "anonymous"


def normalise_phone(text: str) -> str | None:
    """'+86 138-1234-5678' → '13812345678'; None unless an 11-digit mainland mobile."""
    digits = re.sub(r"[\s\-()（）]", "", text or "")
    digits = re.sub(r"^(\+?86)", "", digits)
    return digits if MOBILE.match(digits) else None


def utter_error(dispatcher: CollectingDispatcher, error: Exception) -> None:
    """A DomainError carries a Chinese message meant for the resident; anything else doesn't."""
    from minsheng.errors import DomainError

    if isinstance(error, DomainError):
        dispatcher.utter_message(text=str(error))
    else:
        log.exception("case service failed", exc_info=error)
        dispatcher.utter_message(response="utter_try_again_later")


def format_time(when) -> str:
    """A stored UTC time as the resident's local '11月22日 14:05' (minsheng.clock formats)."""
    from minsheng.clock import format_local

    return format_local(when, settings().timezone, "resident")


def format_deadline(when) -> str:
    return "尽快" if when is None else f"{format_time(when)} 前"
