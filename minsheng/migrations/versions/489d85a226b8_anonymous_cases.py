"""anonymous cases: staff see no identity of the reporter

Revision ID: 489d85a226b8
Revises: 788fb8e5cc2a
Create Date: 2026-12-06 18:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "489d85a226b8"
down_revision: Union[str, Sequence[str], None] = "788fb8e5cc2a"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("anonymous", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("anonymous")
