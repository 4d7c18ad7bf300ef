"""Personal data (PIPL): one phone mask, one redactor for free text and logs, retention.

Phone and ID numbers a resident types are kept in full only where the case needs them (the
case's phone field, for the handler's call-back). Everywhere else — the NLU log, the review
queue, learned training data, process logs — they are masked before they are written.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from sqlalchemy import update

from minsheng.models import InboundMessage

# An 18-digit resident ID (last may be X) or a 15-digit old one, not inside a longer number.
ID_NUMBER = re.compile(r"(?<![0-9])(\d{6})(\d{8}|\d{5})(\d{3}[0-9Xx]|\d{1})(?![0-9A-Za-z])")
# Mobile numbers (optionally +86 / 86, with spaces or dashes) and landlines with area code.
PHONE = re.compile(
    r"(?<![0-9])(?:\+?86[ -]?)?(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?![0-9])"
    r"|(?<![0-9])(0\d{2,3})-?(\d{3,4})(\d{4})(?![0-9])")
PURGED = {"purged": True}


def mask_phone(phone: str | None) -> str | None:
    """'13812345678' → '138****5678'; short numbers keep only their last two digits."""
    if not phone:
        return None
    digits = phone.strip()
    if len(digits) >= 7:
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * max(len(digits) - 2, 0) + digits[-2:]


def _mask_id(match: re.Match) -> str:
    return match.group(1) + "*" * len(match.group(2)) + match.group(3)[-4:].rjust(
        len(match.group(3)), "*")


def _mask_phone_match(match: re.Match) -> str:
    if match.group(1):
        return f"{match.group(1)}****{match.group(3)}"
    return f"{match.group(4)}-****{match.group(6)}"


def redact(text: str) -> str:
    """``text`` with every phone and ID number masked (IDs first: they contain 11 digits)."""
    return PHONE.sub(_mask_phone_match, ID_NUMBER.sub(_mask_id, text))


class RedactingFilter(logging.Filter):
    """Masks phone and ID numbers in every log record that passes a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def install_log_redaction(*logger_names: str) -> None:
    """Put the redacting filter on every handler of these loggers (root when none given).

    Call it after logging is set up: a filter on a handler sees records from child loggers
    too, which a filter on a logger would not.
    """
    for name in logger_names or ("",):
        for handler in logging.getLogger(name or None).handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())


def purge_inbound(uow, now: datetime, retention_days: int) -> int:
    """Empty the raw payloads of processed inbound messages older than the retention.

    The row stays (its channel and id keep dedupe working); what the resident sent and who
    sent it are dropped. A purged row has no sender, which keeps the next purge cheap.
    """
    before = now - timedelta(days=retention_days)
    result = uow.session.execute(
        update(InboundMessage)
        .where(InboundMessage.processed_at.is_not(None), InboundMessage.received_at < before,
               InboundMessage.sender.is_not(None))
        .values(payload=PURGED, sender=None)
        .execution_options(synchronize_session=False))
    return result.rowcount or 0
