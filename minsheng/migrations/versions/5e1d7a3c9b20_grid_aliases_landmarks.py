"""grids know estate aliases and landmarks (place names routed without a 小区 name)

Revision ID: 5e1d7a3c9b20
Revises: 5e7d0c41a9b2
Create Date: 2026-12-06 20:15:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "5e1d7a3c9b20"
down_revision: Union[str, Sequence[str], None] = "5e7d0c41a9b2"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("grids") as batch:
        batch.add_column(sa.Column("aliases", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("landmarks", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("grids") as batch:
        batch.drop_column("landmarks")
        batch.drop_column("aliases")
