"""a resident's channel identity can be unreachable (they blocked the bot)

Revision ID: 4d2b7e81c5a3
Revises: 3c8e1f0a9d27
Create Date: 2026-12-06 14:40:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "4d2b7e81c5a3"
down_revision: Union[str, Sequence[str], None] = "3c8e1f0a9d27"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("resident_identities") as batch:
        batch.add_column(sa.Column("unreachable_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("resident_identities") as batch:
        batch.drop_column("unreachable_at")
