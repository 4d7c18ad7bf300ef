"""The audit log: who did or tried what, outside a case's own event timeline.

Callers stage an entry in their unit of work and commit; ``record_now`` is for places
that have no unit of work of their own (a refused request).
"""
from __future__ import annotations

from minsheng.clock import utcnow
from minsheng.db import Database
from minsheng.models import AuditEntry


def record(uow, action: str, actor: str | None = None, target: str | None = None,
           detail: str | None = None, address: str | None = None) -> AuditEntry:
    entry = AuditEntry(at=utcnow(), action=action, actor=actor, target=(target or "")[:200],
                       detail=detail, address=address)
    uow.session.add(entry)
    return entry


def record_now(database: Database, action: str, **values) -> None:
    """Write one entry in a transaction of its own."""
    with database.uow() as uow:
        record(uow, action, **values)
        uow.commit()
