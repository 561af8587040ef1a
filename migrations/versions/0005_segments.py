"""segments

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

Issue [5/6]: named customer segments (a saved customers filter and a priority).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('segment',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('filter', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_segment'))
    )
    op.create_index('uq_segment_name', 'segment', [sa.literal_column('lower(name)')], unique=True)


def downgrade() -> None:
    op.drop_index('uq_segment_name', table_name='segment')
    op.drop_table('segment')
