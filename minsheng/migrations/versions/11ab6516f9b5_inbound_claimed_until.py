"""an inbound message is taken by one process at a time (claimed_until)

Revision ID: 11ab6516f9b5
Revises: 489d85a226b8
Create Date: 2026-12-06 17:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "11ab6516f9b5"
down_revision: Union[str, Sequence[str], None] = "489d85a226b8"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_messages") as batch:
        batch.add_column(sa.Column("claimed_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbound_messages") as batch:
        batch.drop_column("claimed_until")
