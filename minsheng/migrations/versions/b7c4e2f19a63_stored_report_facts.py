"""stored report facts (case_facts + case_facts_state) for the dashboard at 100,000 cases,
and the scheduler's hot-spot snapshots (hotspot_snapshots)

Revision ID: b7c4e2f19a63
Revises: d45b0a8d1e27
Create Date: 2026-12-07 00:00:00

The facts are filled by the scheduler (services/stats_rollup.py refresh); until then the
dashboard counts live as before.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7c4e2f19a63"
down_revision: str | Sequence[str] | None = "d45b0a8d1e27"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_facts",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("handling", sa.String(length=32), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("mask", sa.Integer(), nullable=False),
        sa.Column("ack_due", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id"),
    )
    op.create_index("ix_case_facts_covering", "case_facts", [
        "day", "grid_id", "assignee_id", "category", "channel", "handling", "mask", "ack_due"])
    op.create_table(
        "case_facts_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tz", sa.String(length=64), nullable=False),
        sa.Column("limits_stamp", sa.String(length=64), nullable=False),
        *[sa.Column(name, sa.BigInteger(), nullable=False) for name in (
            "case_id", "event_id", "rating_id", "seen_case_id", "seen_event_id",
            "seen_rating_id")],
        sa.Column("built_at", sa.DateTime(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "hotspot_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_hotspot_snapshots_computed_at"), "hotspot_snapshots",
                    ["computed_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_hotspot_snapshots_computed_at"), table_name="hotspot_snapshots")
    op.drop_table("hotspot_snapshots")
    op.drop_table("case_facts_state")
    op.drop_index("ix_case_facts_covering", table_name="case_facts")
    op.drop_table("case_facts")
