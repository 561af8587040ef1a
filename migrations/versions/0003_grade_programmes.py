"""grade programmes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Issue [3/6]: programmes, dated rule versions and tiers, memberships, fee payments,
the qualifying ledger, tier history, overrides, benefit grants and usage, training
bookings; order lines snapshot the tier whose discount applied.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('programme',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('time_zone', sa.Text(), nullable=False),
    sa.Column('window_kind', sa.Text(), nullable=False),
    sa.Column('window_months', sa.SmallInteger(), nullable=True),
    sa.Column('fee_term_months', sa.SmallInteger(), nullable=False),
    sa.Column('demotion_policy', sa.Text(), nullable=False),
    sa.Column('max_drop', sa.SmallInteger(), server_default=sa.text('1'), nullable=False),
    sa.Column('grace_days', sa.SmallInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(window_kind = 'rolling_months') = (window_months IS NOT NULL)", name=op.f('ck_programme_window_months')),
    sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f('ck_programme_currency')),
    sa.CheckConstraint("demotion_policy IN ('never', 'at_period_end')", name=op.f('ck_programme_demotion_policy')),
    sa.CheckConstraint("kind IN ('agent', 'member')", name=op.f('ck_programme_kind')),
    sa.CheckConstraint("window_kind IN ('calendar_year', 'anniversary', 'rolling_months')", name=op.f('ck_programme_window_kind')),
    sa.CheckConstraint('fee_term_months BETWEEN 1 AND 120', name=op.f('ck_programme_fee_term_months')),
    sa.CheckConstraint('max_drop >= 0 AND grace_days >= 0', name=op.f('ck_programme_non_negative')),
    sa.CheckConstraint('window_months BETWEEN 1 AND 36', name=op.f('ck_programme_window_months_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programme'))
    )
    op.create_index('uq_programme_name', 'programme', [sa.literal_column('lower(name)')], unique=True)
    op.create_table('rule_version',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('programme_id', sa.BigInteger(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.Text(), server_default='draft', nullable=False),
    sa.Column('effective_from', sa.DateTime(timezone=True), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(status = 'published') = (effective_from IS NOT NULL)", name=op.f('ck_rule_version_published_effective')),
    sa.CheckConstraint("status IN ('draft', 'published')", name=op.f('ck_rule_version_status')),
    sa.ForeignKeyConstraint(['programme_id'], ['programme.id'], name=op.f('fk_rule_version_programme_id_programme')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rule_version')),
    sa.UniqueConstraint('programme_id', 'number', name='uq_rule_version_programme_id_number')
    )
    op.create_index('uq_rule_version_programme_id_effective_from', 'rule_version', ['programme_id', 'effective_from'], unique=True, postgresql_where=sa.text("status = 'published'"))
    op.create_table('membership',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('programme_id', sa.BigInteger(), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('earned_rank', sa.SmallInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('earned_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tier_rank', sa.SmallInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('assessed_through', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('earned_rank >= 0 AND tier_rank >= 0', name=op.f('ck_membership_ranks')),
    sa.ForeignKeyConstraint(['account_id'], ['customer.id'], name=op.f('fk_membership_account_id_customer')),
    sa.ForeignKeyConstraint(['programme_id'], ['programme.id'], name=op.f('fk_membership_programme_id_programme')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_membership')),
    sa.UniqueConstraint('account_id', 'programme_id', name='uq_membership_account_id_programme_id')
    )
    op.create_index('ix_membership_programme_id_id', 'membership', ['programme_id', 'id'], unique=False)
    op.create_table('tier',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('rule_version_id', sa.BigInteger(), nullable=False),
    sa.Column('rank', sa.SmallInteger(), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('entry_fee', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('discount_rate', sa.Numeric(precision=5, scale=4), nullable=False),
    sa.Column('training_quota', sa.Integer(), nullable=False),
    sa.Column('promotion_threshold', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('retention_threshold', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('extra_benefits', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.CheckConstraint('discount_rate >= 0 AND discount_rate < 1', name=op.f('ck_tier_discount_rate')),
    sa.CheckConstraint('entry_fee >= 0 AND training_quota >= 0', name=op.f('ck_tier_non_negative')),
    sa.CheckConstraint('rank >= 1', name=op.f('ck_tier_rank')),
    sa.CheckConstraint('retention_threshold <= promotion_threshold AND retention_threshold >= 0', name=op.f('ck_tier_thresholds')),
    sa.ForeignKeyConstraint(['rule_version_id'], ['rule_version.id'], name=op.f('fk_tier_rule_version_id_rule_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tier')),
    sa.UniqueConstraint('rule_version_id', 'code', name='uq_tier_rule_version_id_code'),
    sa.UniqueConstraint('rule_version_id', 'rank', name='uq_tier_rule_version_id_rank')
    )
    op.create_table('benefit_grant',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('membership_id', sa.BigInteger(), nullable=False),
    sa.Column('benefit', sa.Text(), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('tier_rank', sa.SmallInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['membership_id'], ['membership.id'], name=op.f('fk_benefit_grant_membership_id_membership')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_benefit_grant'))
    )
    op.create_index('ix_benefit_grant_membership_id_window_start', 'benefit_grant', ['membership_id', 'benefit', 'window_start'], unique=False)
    op.create_table('fee_payment',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('membership_id', sa.BigInteger(), nullable=False),
    sa.Column('tier_rank', sa.SmallInteger(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('term_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('term_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('refunded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refund_reason', sa.Text(), nullable=True),
    sa.Column('paid_by_id', sa.BigInteger(), nullable=True),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_fee_payment_amount')),
    sa.CheckConstraint('term_end > term_start', name=op.f('ck_fee_payment_term')),
    sa.ForeignKeyConstraint(['membership_id'], ['membership.id'], name=op.f('fk_fee_payment_membership_id_membership')),
    sa.ForeignKeyConstraint(['paid_by_id'], ['app_user.id'], name=op.f('fk_fee_payment_paid_by_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fee_payment'))
    )
    op.create_index('ix_fee_payment_membership_id_term_start', 'fee_payment', ['membership_id', 'term_start'], unique=False)
    op.create_table('qualifying_entry',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('membership_id', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('actor_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['app_user.id'], name=op.f('fk_qualifying_entry_actor_id_app_user')),
    sa.ForeignKeyConstraint(['membership_id'], ['membership.id'], name=op.f('fk_qualifying_entry_membership_id_membership')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qualifying_entry')),
    sa.UniqueConstraint('membership_id', 'source', name='uq_qualifying_entry_membership_id_source')
    )
    op.create_index('ix_qualifying_entry_membership_id_occurred_at', 'qualifying_entry', ['membership_id', 'occurred_at'], unique=False, postgresql_include=['amount'])
    op.create_table('tier_change',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('membership_id', sa.BigInteger(), nullable=False),
    sa.Column('from_rank', sa.SmallInteger(), nullable=False),
    sa.Column('to_rank', sa.SmallInteger(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('rule_version_id', sa.BigInteger(), nullable=True),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=True),
    sa.Column('window_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('qualifying_volume', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('explanation', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('actor_id', sa.BigInteger(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("reason IN ('fee_paid', 'promoted', 'demoted', 'override', 'expired', 'refund')", name=op.f('ck_tier_change_reason')),
    sa.ForeignKeyConstraint(['actor_id'], ['app_user.id'], name=op.f('fk_tier_change_actor_id_app_user')),
    sa.ForeignKeyConstraint(['membership_id'], ['membership.id'], name=op.f('fk_tier_change_membership_id_membership')),
    sa.ForeignKeyConstraint(['rule_version_id'], ['rule_version.id'], name=op.f('fk_tier_change_rule_version_id_rule_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tier_change'))
    )
    op.create_index('ix_tier_change_membership_id_at', 'tier_change', ['membership_id', 'at', 'id'], unique=False)
    op.create_table('tier_override',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('membership_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('tier_rank', sa.SmallInteger(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('actor_id', sa.BigInteger(), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('floor', 'lock')", name=op.f('ck_tier_override_kind')),
    sa.ForeignKeyConstraint(['actor_id'], ['app_user.id'], name=op.f('fk_tier_override_actor_id_app_user')),
    sa.ForeignKeyConstraint(['membership_id'], ['membership.id'], name=op.f('fk_tier_override_membership_id_membership')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tier_override'))
    )
    op.create_index('ix_tier_override_membership_id', 'tier_override', ['membership_id'], unique=False)
    op.create_table('training_booking',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('membership_id', sa.BigInteger(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('session_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Text(), server_default='booked', nullable=False),
    sa.Column('booked_by_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('booked', 'cancelled')", name=op.f('ck_training_booking_status')),
    sa.ForeignKeyConstraint(['booked_by_id'], ['app_user.id'], name=op.f('fk_training_booking_booked_by_id_app_user')),
    sa.ForeignKeyConstraint(['membership_id'], ['membership.id'], name=op.f('fk_training_booking_membership_id_membership')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_booking'))
    )
    op.create_index('ix_training_booking_membership_id_session_at', 'training_booking', ['membership_id', 'session_at'], unique=False)
    op.create_table('benefit_usage',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('membership_id', sa.BigInteger(), nullable=False),
    sa.Column('benefit', sa.Text(), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('booking_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['booking_id'], ['training_booking.id'], name=op.f('fk_benefit_usage_booking_id_training_booking')),
    sa.ForeignKeyConstraint(['membership_id'], ['membership.id'], name=op.f('fk_benefit_usage_membership_id_membership')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_benefit_usage')),
    sa.UniqueConstraint('booking_id', 'quantity', name='uq_benefit_usage_booking_id_quantity')
    )
    op.create_index('ix_benefit_usage_membership_id_window_start', 'benefit_usage', ['membership_id', 'benefit', 'window_start'], unique=False)
    op.add_column('order_line', sa.Column('tier_code', sa.Text(), nullable=True))
    op.add_column('order_line', sa.Column('rule_version_id', sa.BigInteger(), nullable=True))
    op.create_foreign_key(op.f('fk_order_line_rule_version_id_rule_version'), 'order_line', 'rule_version', ['rule_version_id'], ['id'])


def downgrade() -> None:
    op.drop_constraint(op.f('fk_order_line_rule_version_id_rule_version'), 'order_line', type_='foreignkey')
    op.drop_column('order_line', 'rule_version_id')
    op.drop_column('order_line', 'tier_code')
    op.drop_index('ix_benefit_usage_membership_id_window_start', table_name='benefit_usage')
    op.drop_table('benefit_usage')
    op.drop_index('ix_training_booking_membership_id_session_at', table_name='training_booking')
    op.drop_table('training_booking')
    op.drop_index('ix_tier_override_membership_id', table_name='tier_override')
    op.drop_table('tier_override')
    op.drop_index('ix_tier_change_membership_id_at', table_name='tier_change')
    op.drop_table('tier_change')
    op.drop_index('ix_qualifying_entry_membership_id_occurred_at', table_name='qualifying_entry', postgresql_include=['amount'])
    op.drop_table('qualifying_entry')
    op.drop_index('ix_fee_payment_membership_id_term_start', table_name='fee_payment')
    op.drop_table('fee_payment')
    op.drop_index('ix_benefit_grant_membership_id_window_start', table_name='benefit_grant')
    op.drop_table('benefit_grant')
    op.drop_table('tier')
    op.drop_index('ix_membership_programme_id_id', table_name='membership')
    op.drop_table('membership')
    op.drop_index('uq_rule_version_programme_id_effective_from', table_name='rule_version', postgresql_where=sa.text("status = 'published'"))
    op.drop_table('rule_version')
    op.drop_index('uq_programme_name', table_name='programme')
    op.drop_table('programme')
