"""Trackers and domains for action tests, built in code."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from rasa_sdk import Tracker

ROOT = Path(__file__).resolve().parents[2]
DOMAIN: dict[str, Any] = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


def ranking(*pairs: tuple[str, float]) -> list[dict[str, Any]]:
    return [{"name": name, "confidence": confidence} for name, confidence in pairs]


def ents(**values: Any) -> list[dict[str, Any]]:
    return [{"entity": name, "value": value} for name, value in values.items()]


def make_tracker(
    text: str = "",
    intent: str = "report_clutter",
    confidence: float = 0.95,
    *,
    intent_ranking: list[dict[str, Any]] | None = None,
    entities: list[dict[str, Any]] | None = None,
    slots: dict[str, Any] | None = None,
    form: str | None = None,
    requested: str | None = None,
    sender_id: str = "telegram:4242",
    metadata: dict[str, Any] | None = None,
    message_id: str = "m-1",
    parse_data: dict[str, Any] | None = None,
) -> Tracker:
    """A tracker whose latest event is one resident message (text or button payload);
    ``parse_data``: how Rasa parsed it, when the test had the model parse it."""
    latest = parse_data or {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "intent_ranking": intent_ranking if intent_ranking is not None
        else [{"name": intent, "confidence": confidence}],
        "entities": entities or [],
    }
    all_slots = {name: None for name in DOMAIN["slots"]}
    all_slots.update(slots or {})
    all_slots["requested_slot"] = requested
    user_event = {"event": "user", "text": text, "parse_data": latest, "timestamp": 1_700_000_000.0,
                  "message_id": message_id, "metadata": metadata or {}}
    return Tracker(
        sender_id=sender_id,
        slots=all_slots,
        latest_message=latest,
        events=[{"event": "action", "name": "action_listen"}, user_event],
        paused=False,
        followup_action=None,
        active_loop={"name": form} if form else {},
        latest_action_name="action_listen",
    )


def slot_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The slots the events set, last value wins."""
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def responses(dispatcher) -> list[str | None]:
    return [m.get("response") for m in dispatcher.messages]


def texts(dispatcher) -> str:
    return "\n".join(m.get("text") or "" for m in dispatcher.messages)
