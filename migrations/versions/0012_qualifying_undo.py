"""promotion_undone: a tier_change reason

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

A return or cancellation that leaves a promotion's window below its threshold undoes
the promotion at once (tiers.ledger); its history row says so with a reason of its own.
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = "'fee_paid', 'promoted', 'demoted', 'override', 'expired', 'refund', 'earned'"


def upgrade() -> None:
    op.drop_constraint(op.f('ck_tier_change_reason'), 'tier_change', type_='check')
    op.create_check_constraint(op.f('ck_tier_change_reason'), 'tier_change', f"reason IN ({BEFORE}, 'promotion_undone')")


def downgrade() -> None:
    # The closest reason the old schema has: the tier went down by volume.
    op.execute("UPDATE tier_change SET reason = 'demoted' WHERE reason = 'promotion_undone'")
    op.drop_constraint(op.f('ck_tier_change_reason'), 'tier_change', type_='check')
    op.create_check_constraint(op.f('ck_tier_change_reason'), 'tier_change', f"reason IN ({BEFORE})")
