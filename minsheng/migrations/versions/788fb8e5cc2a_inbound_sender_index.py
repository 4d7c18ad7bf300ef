"""inbound messages by sender and time: the channel a resident last wrote on

Revision ID: 788fb8e5cc2a
Revises: 183fbe2b0a06
Create Date: 2026-12-06 17:00:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = "788fb8e5cc2a"
down_revision: Union[str, Sequence[str], None] = "183fbe2b0a06"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index("ix_inbound_sender_received", "inbound_messages",
                    ["sender", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_inbound_sender_received", table_name="inbound_messages")
