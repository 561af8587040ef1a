"""benefit quotas

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-02

Benefit quotas are granted per benefit period (a membership year by default, or a
calendar year), independent of the qualification window: a rolling-window programme
granted its "yearly" training quota every month. Benefits besides training are quotas
too, used by usage records that carry a note and the actor.

Tier.extra_benefits keeps its rows as written: entries without a "code" get one from
their name when read (tiers.rules.benefit_code_of), so no published version is rewritten.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('programme', sa.Column('benefit_period', sa.Text(), server_default='membership_year', nullable=False))
    op.create_check_constraint(op.f('ck_programme_benefit_period'), 'programme',
                               "benefit_period IN ('membership_year', 'calendar_year')")
    op.add_column('benefit_usage', sa.Column('note', sa.Text(), nullable=True))
    op.add_column('benefit_usage', sa.Column('actor_id', sa.BigInteger(), nullable=True))
    op.create_foreign_key(op.f('fk_benefit_usage_actor_id_app_user'), 'benefit_usage', 'app_user', ['actor_id'], ['id'])


def downgrade() -> None:
    op.drop_constraint(op.f('fk_benefit_usage_actor_id_app_user'), 'benefit_usage', type_='foreignkey')
    op.drop_column('benefit_usage', 'actor_id')
    op.drop_column('benefit_usage', 'note')
    op.drop_constraint(op.f('ck_programme_benefit_period'), 'programme', type_='check')
    op.drop_column('programme', 'benefit_period')
