"""hot spots told to their community once (hotspot_alerts); follow-ups found by action
and time (ix_case_events_action_at)

Revision ID: 5e7d0c41a9b2
Revises: 11ab6516f9b5
Create Date: 2026-12-06 20:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e7d0c41a9b2"
down_revision: str | Sequence[str] | None = "11ab6516f9b5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CATEGORIES = ("safety_hazard", "sanitation", "illegal_construction", "dispute", "livelihood",
              "clutter", "public_order")


def upgrade() -> None:
    op.create_table(
        "hotspot_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category", sa.Enum(*CATEGORIES, name="category", native_enum=False,
                                      length=32), nullable=False),
        sa.Column("place_key", sa.String(length=120), nullable=False),
        sa.Column("place", sa.String(length=300), nullable=False),
        sa.Column("seed_case_id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.Column("case_nos", sa.JSON(), nullable=False),
        sa.Column("staff_ids", sa.JSON(), nullable=False),
        sa.Column("alerted_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["seed_case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["grid_id"], ["grids.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("category", "place_key", "seed_case_id"),
    )
    op.create_index(op.f("ix_hotspot_alerts_alerted_at"), "hotspot_alerts", ["alerted_at"],
                    unique=False)
    op.create_index("ix_case_events_action_at", "case_events", ["action", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_case_events_action_at", table_name="case_events")
    op.drop_index(op.f("ix_hotspot_alerts_alerted_at"), table_name="hotspot_alerts")
    op.drop_table("hotspot_alerts")
