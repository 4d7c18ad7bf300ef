"""one NLU log row per chat message: (sender, message_key) unique

Revision ID: be2e18a222e2
Revises: 5e8a1c3d9f20
Create Date: 2026-12-07 09:30:00

The Rasa process catches up, from the tracker store, the messages whose rows were lost
(nlu/message_log.py); several replicas may do so at once, and only a unique index stops two
of them writing the same row. A message logged twice before this (two replicas given the
same update) keeps its key on its first row — the one ``find_message`` already returned —
and the later copies lose the key, not their labels or corrections.
"""
from collections.abc import Sequence

from alembic import op

revision: str = "be2e18a222e2"
down_revision: str | Sequence[str] | None = "5e8a1c3d9f20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
        UPDATE nlu_messages SET message_key = NULL
        WHERE message_key IS NOT NULL AND id > (
            SELECT MIN(earlier.id) FROM nlu_messages AS earlier
            WHERE earlier.sender = nlu_messages.sender
              AND earlier.message_key = nlu_messages.message_key)
    """)
    op.drop_index("ix_nlu_messages_sender_key", table_name="nlu_messages")
    op.create_index("uq_nlu_messages_sender_key", "nlu_messages", ["sender", "message_key"],
                    unique=True)


def downgrade() -> None:
    op.drop_index("uq_nlu_messages_sender_key", table_name="nlu_messages")
    op.create_index("ix_nlu_messages_sender_key", "nlu_messages", ["sender", "message_key"])
