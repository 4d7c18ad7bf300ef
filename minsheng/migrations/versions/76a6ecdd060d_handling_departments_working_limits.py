"""departments for 街道吹哨 / 转办, the departments of a resolved case, limits with a unit

Revision ID: 76a6ecdd060d
Revises: 4d2b7e81c5a3
Create Date: 2026-12-06 17:05:00

Existing TimeLimit rows keep their meaning: a whole number of hours becomes clock hours,
anything else clock minutes (an admin may then restate them in working time).
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "76a6ecdd060d"
down_revision: Union[str, Sequence[str], None] = "4d2b7e81c5a3"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "departments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("duty_phone", sa.String(20)),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.create_table(
        "case_handling_departments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("department_id", sa.Integer(), sa.ForeignKey("departments.id"),
                  nullable=False),
        sa.UniqueConstraint("case_id", "department_id"),
    )
    op.create_index("ix_case_handling_departments_case_id", "case_handling_departments",
                    ["case_id"])
    with op.batch_alter_table("time_limits") as batch:
        batch.add_column(sa.Column("ack_amount", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("ack_unit", sa.String(16), nullable=True))
        batch.add_column(sa.Column("resolve_amount", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("resolve_unit", sa.String(16), nullable=True))
    for name in ("ack", "resolve"):
        op.execute(f"UPDATE time_limits SET {name}_amount = {name}_minutes / 60, "
                   f"{name}_unit = 'hours' WHERE {name}_minutes % 60 = 0")
        op.execute(f"UPDATE time_limits SET {name}_amount = {name}_minutes, "
                   f"{name}_unit = 'minutes' WHERE {name}_minutes % 60 <> 0")
    with op.batch_alter_table("time_limits") as batch:
        for name in ("ack_amount", "ack_unit", "resolve_amount", "resolve_unit"):
            batch.alter_column(name, nullable=False)
        batch.drop_column("ack_minutes")
        batch.drop_column("resolve_minutes")


def downgrade() -> None:
    with op.batch_alter_table("time_limits") as batch:
        batch.add_column(sa.Column("ack_minutes", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("resolve_minutes", sa.Integer(), nullable=True))
    # working time has no clock equivalent: a working hour becomes an hour, a day 24 hours
    factors = {"minutes": 1, "hours": 60, "working_hours": 60, "working_days": 1440}
    for name in ("ack", "resolve"):
        for unit, factor in factors.items():
            op.execute(f"UPDATE time_limits SET {name}_minutes = {name}_amount * {factor} "
                       f"WHERE {name}_unit = '{unit}'")
    with op.batch_alter_table("time_limits") as batch:
        batch.alter_column("ack_minutes", nullable=False)
        batch.alter_column("resolve_minutes", nullable=False)
        for name in ("ack_amount", "ack_unit", "resolve_amount", "resolve_unit"):
            batch.drop_column(name)
    op.drop_index("ix_case_handling_departments_case_id", "case_handling_departments")
    op.drop_table("case_handling_departments")
    op.drop_table("departments")
