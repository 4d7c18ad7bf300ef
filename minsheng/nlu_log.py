"""The classifier's reading of each resident message, and staff corrections of it.

Feeds NLU retraining: ``export_review`` picks the messages worth a human look
(low confidence, or corrected later). No Rasa import. Callers commit the unit of work.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from minsheng.clock import utcnow
from minsheng.enums import Channel
from minsheng.models import NluMessage
from minsheng.privacy import redact


@dataclass(frozen=True)
class ReviewRow:
    id: int
    predicted: str
    confidence: float
    corrected: str | None
    text: str


# The gateway turns a resident's leading "/" into this so that no typed text can name an
# intent; a text starting with either slash is a button press or a neutralised command.
FULL_WIDTH_SLASH = "／"


def is_button_payload(text: str) -> bool:
    """A button press or a typed command: not words a resident wrote, nothing to relabel."""
    return text.lstrip().startswith(("/", FULL_WIDTH_SLASH))


# Rasa's prefix of a message made from an intent by an API call (trigger_intent, reminders).
EXTERNAL_PREFIX = "EXTERNAL: "


def is_typed(text: str) -> bool:
    """Words a resident wrote: what the NLU log keeps (not a button, command or trigger)."""
    text = text.strip()
    return bool(text) and not is_button_payload(text) and not text.startswith(EXTERNAL_PREFIX)


def message_key(event: dict) -> str:
    """A stable id of a user message (a tracker event as a dict): its channel's message
    id, else Rasa's, else its timestamp. The NLU log row of a message is found by
    (sender, key); the report form keeps the key of the description."""
    metadata = event.get("metadata") or {}
    # A channel's own id survives re-delivery; Rasa's message_id is new on every POST.
    for name in ("update_id", "message_id"):
        if metadata.get(name) is not None:
            return f"{name}:{metadata[name]}"
    return str(event.get("message_id") or event.get("timestamp") or "")


def record_prediction(
    uow,
    channel: str | Channel | None,
    sender: str | None,
    text: str,
    label: str,
    confidence: float,
    case_id: int | None = None,
    message_key: str | None = None,
) -> NluMessage:
    message = NluMessage(
        at=utcnow(),
        channel=Channel(channel) if channel else None,
        sender=sender,
        text=redact(text),  # phone and ID numbers never reach the review queue
        predicted_label=label,
        confidence=float(confidence),
        case_id=case_id,
        message_key=message_key,
    )
    uow.session.add(message)
    uow.session.flush()
    return message


def log_message(uow, channel: str | Channel | None, sender: str, text: str, label: str,
                confidence: float, message_key: str) -> bool:
    """Record the prediction of chat message ``message_key`` of ``sender`` unless it is
    logged already; False when it was. Several Rasa replicas may log the same message at
    once (a catch-up, nlu/message_log.py): the unique index on (sender, message_key) keeps
    one row, and the insert that loses the race does nothing instead of failing its batch."""
    dialect = uow.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    result = uow.session.execute(insert(NluMessage).on_conflict_do_nothing(), {
        "at": utcnow(), "channel": Channel(channel) if channel else None, "sender": sender,
        "text": redact(text), "predicted_label": label, "confidence": float(confidence),
        "message_key": message_key})
    return result.rowcount == 1


def logged_keys(uow, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Those of these (sender, message key) pairs that are logged: ``find_message`` for a
    batch in one query (a catch-up checks thousands; one query each took 0.3 ms of CPU)."""
    keys = set(keys)
    if not keys:
        return set()
    rows = uow.session.execute(select(NluMessage.sender, NluMessage.message_key).where(
        NluMessage.sender.in_({sender for sender, _ in keys}),
        NluMessage.message_key.in_({key for _, key in keys})))
    return {(sender, key) for sender, key in rows} & keys


def find_message(uow, sender: str, key: str) -> int | None:
    """The id of the logged message ``key`` of ``sender`` (``message_key``), if logged."""
    return uow.session.execute(
        select(NluMessage.id)
        .where(NluMessage.sender == sender, NluMessage.message_key == key)
        .order_by(NluMessage.id).limit(1)
    ).scalar()


def record_correction(
    uow,
    label: str,
    by: str,
    *,
    message_id: int | None = None,
    case_id: int | None = None,
) -> int:
    """Set the corrected label of one message (by id) or of the messages of a case.

    Returns the number of rows changed; a correction to the predicted label is still
    recorded (it confirms the prediction).
    """
    if (message_id is None) == (case_id is None):
        raise ValueError("give exactly one of message_id and case_id")
    condition = NluMessage.id == message_id if message_id is not None else NluMessage.case_id == case_id
    result = uow.session.execute(
        update(NluMessage)
        .where(condition)
        .values(corrected_label=label, corrected_by=by, corrected_at=utcnow(), exported_at=None)
    )
    return result.rowcount or 0


def export_review(uow, threshold: float, *, mark_exported: bool = True) -> list[ReviewRow]:
    """Messages below the confidence threshold or corrected to another label, not yet exported."""
    rows = uow.session.execute(
        select(NluMessage)
        .where(NluMessage.exported_at.is_(None))
        .where(
            or_(
                NluMessage.confidence < threshold,
                (NluMessage.corrected_label.is_not(None))
                & (NluMessage.corrected_label != NluMessage.predicted_label),
            )
        )
        .order_by(NluMessage.id)
    ).scalars().all()
    rows = [r for r in rows if not is_button_payload(r.text)]
    if mark_exported and rows:
        now = utcnow()
        for row in rows:
            row.exported_at = now
    return [
        # redact again: rows logged before masking existed are masked on the way out
        ReviewRow(r.id, r.predicted_label, r.confidence, r.corrected_label, redact(r.text))
        for r in rows
    ]
