"""benefit uses and bookings keep their instant

Revision ID: 0017
Revises: 0013
Create Date: 2026-12-02

`membership(at:)` counts only the uses and bookings made at or before `at`; the writers
take an instant (`at`) that need not be the database clock's `created_at`, so each
row keeps it. Existing rows: their `created_at`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table, column in (("benefit_usage", "used_at"), ("training_booking", "booked_at")):
        op.add_column(table, sa.Column(column, sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False))
        op.execute(f"UPDATE {table} SET {column} = created_at")


def downgrade() -> None:
    op.drop_column('training_booking', 'booked_at')
    op.drop_column('benefit_usage', 'used_at')
