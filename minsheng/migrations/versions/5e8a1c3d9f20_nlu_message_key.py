"""the message key of an NLU log row (nlu_messages.message_key), found by (sender, key)

Revision ID: 5e8a1c3d9f20
Revises: b7c4e2f19a63
Create Date: 2026-12-07 03:00:00

The Rasa process writes the NLU log now (nlu/message_log.py), so the report form can no
longer learn the row's id from a slot: it finds the row of the description by the message's
key. Rows logged before have no key (a correction of a report begun before the upgrade is
not recorded).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e8a1c3d9f20"
down_revision: str | Sequence[str] | None = "b7c4e2f19a63"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("nlu_messages") as batch:
        batch.add_column(sa.Column("message_key", sa.String(length=200), nullable=True))
    op.create_index("ix_nlu_messages_sender_key", "nlu_messages", ["sender", "message_key"])


def downgrade() -> None:
    op.drop_index("ix_nlu_messages_sender_key", table_name="nlu_messages")
    with op.batch_alter_table("nlu_messages") as batch:
        batch.drop_column("message_key")
