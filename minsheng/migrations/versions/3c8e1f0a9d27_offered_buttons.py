"""offered buttons (the web chat accepts only payloads it offered to that resident)

Revision ID: 3c8e1f0a9d27
Revises: 9c3e1a7d2f40
Create Date: 2026-12-06 14:10:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '3c8e1f0a9d27'
down_revision: Union[str, Sequence[str], None] = '9c3e1a7d2f40'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('offered_buttons',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.Enum('telegram', 'web', 'hotline', 'mailbox', 'service_station',
                                 'patrol', 'visit', name='channel', native_enum=False,
                                 length=32), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('payload', sa.String(length=500), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('offered_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('channel', 'resident_id', 'payload')
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('offered_buttons')
