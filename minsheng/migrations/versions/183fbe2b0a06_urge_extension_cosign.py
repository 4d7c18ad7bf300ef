"""催办 plan columns on cases; 延期 requests; 加签 co-handlers

Revision ID: 183fbe2b0a06
Revises: 76a6ecdd060d
Create Date: 2026-12-06 17:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "183fbe2b0a06"
down_revision: Union[str, Sequence[str], None] = "76a6ecdd060d"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("urge_deadline", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("urge_from", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("urged_percent", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("next_urge_at", sa.DateTime(), nullable=True))
        batch.create_index("ix_cases_next_urge_at", ["next_urge_at"])
    op.create_table(
        "extension_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False,
                  index=True),
        sa.Column("requested_by", sa.Integer(), sa.ForeignKey("staff.id"), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("old_deadline", sa.DateTime(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.Integer(), sa.ForeignKey("staff.id"), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("new_deadline", sa.DateTime(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
    )
    op.create_table(
        "case_cosigners",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False,
                  index=True),
        sa.Column("grid_id", sa.Integer(), sa.ForeignKey("grids.id"), nullable=True),
        sa.Column("staff_id", sa.Integer(), sa.ForeignKey("staff.id"), nullable=True),
        sa.Column("added_by", sa.Integer(), sa.ForeignKey("staff.id"), nullable=True),
        sa.Column("added_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("case_cosigners")
    op.drop_table("extension_requests")
    with op.batch_alter_table("cases") as batch:
        batch.drop_index("ix_cases_next_urge_at")
        batch.drop_column("next_urge_at")
        batch.drop_column("urged_percent")
        batch.drop_column("urge_from")
        batch.drop_column("urge_deadline")
