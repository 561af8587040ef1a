"""crm entities: users, channels, contacts, opportunities, activities, products, orders, merges

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Adds the CRM of issue [2/6]. Every index serves a list ordering, a filter, a nested
relation or duplicate detection; docs/filters.md says which. pg_trgm backs the
`ilike` filter on customer names.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Trusted extension: the database owner may create it (PostgreSQL 13+).
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table('channel',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('direct', 'web', 'event', 'social', 'email', 'phone', 'partner')", name=op.f('ck_channel_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel'))
    )
    op.create_index('uq_channel_name', 'channel', [sa.literal_column('lower(name)')], unique=True)
    op.create_table('product',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('sku', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('list_price', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f('ck_product_currency')),
    sa.CheckConstraint('list_price >= 0', name=op.f('ck_product_list_price_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product'))
    )
    op.create_index('ix_product_name_id', 'product', ['name', 'id'], unique=False)
    op.create_index('uq_product_sku', 'product', [sa.literal_column('upper(sku)')], unique=True)
    op.create_table('app_user',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('email', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('role', sa.Text(), nullable=False),
    sa.Column('partner_account_id', sa.BigInteger(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(role = 'partner') = (partner_account_id IS NOT NULL)", name=op.f('ck_app_user_partner_account')),
    sa.CheckConstraint("role IN ('admin', 'manager', 'sales', 'partner')", name=op.f('ck_app_user_role')),
    sa.ForeignKeyConstraint(['partner_account_id'], ['customer.id'], name=op.f('fk_app_user_partner_account_id_customer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_user'))
    )
    op.create_index(op.f('ix_app_user_partner_account_id'), 'app_user', ['partner_account_id'], unique=False)
    op.create_index('uq_app_user_email', 'app_user', [sa.literal_column('lower(email)')], unique=True)
    op.create_table('contact',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('customer_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('title', sa.Text(), nullable=True),
    sa.Column('email', sa.Text(), nullable=True),
    sa.Column('phone', sa.Text(), nullable=True),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('email_opt_out', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('phone_opt_out', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('sms_opt_out', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('do_not_contact', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('length(btrim(name)) > 0', name=op.f('ck_contact_name_not_blank')),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_contact_customer_id_customer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact'))
    )
    op.create_index('ix_contact_customer_id_name_id', 'contact', ['customer_id', 'name', 'id'], unique=False)
    op.create_index('ix_contact_email', 'contact', ['email'], unique=False)
    op.create_index('ix_contact_name_id', 'contact', ['name', 'id'], unique=False)
    op.create_table('channel_spend',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('channel_id', sa.BigInteger(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('recorded_by_id', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f('ck_channel_spend_currency')),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_channel_spend_amount_not_negative')),
    sa.CheckConstraint('period_end > period_start', name=op.f('ck_channel_spend_period')),
    sa.ForeignKeyConstraint(['channel_id'], ['channel.id'], name=op.f('fk_channel_spend_channel_id_channel')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['app_user.id'], name=op.f('fk_channel_spend_recorded_by_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_spend'))
    )
    op.create_index('ix_channel_spend_channel_id_period_start', 'channel_spend', ['channel_id', 'period_start'], unique=False)
    op.create_table('customer_merge',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('survivor_id', sa.BigInteger(), nullable=False),
    sa.Column('merged_id', sa.BigInteger(), nullable=False),
    sa.Column('merged_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('merged_by_id', sa.BigInteger(), nullable=True),
    sa.Column('moved', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('merged_snapshot', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.CheckConstraint('survivor_id <> merged_id', name=op.f('ck_customer_merge_distinct')),
    sa.ForeignKeyConstraint(['merged_by_id'], ['app_user.id'], name=op.f('fk_customer_merge_merged_by_id_app_user')),
    sa.ForeignKeyConstraint(['merged_id'], ['customer.id'], name=op.f('fk_customer_merge_merged_id_customer')),
    sa.ForeignKeyConstraint(['survivor_id'], ['customer.id'], name=op.f('fk_customer_merge_survivor_id_customer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_merge'))
    )
    op.create_index('ix_customer_merge_survivor_id', 'customer_merge', ['survivor_id', 'merged_at'], unique=False)
    op.create_table('opportunity',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('customer_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('stage', sa.Text(), server_default='lead', nullable=False),
    sa.Column('probability', sa.SmallInteger(), nullable=False),
    sa.Column('expected_close', sa.Date(), nullable=True),
    sa.Column('owner_id', sa.BigInteger(), nullable=True),
    sa.Column('channel_id', sa.BigInteger(), nullable=True),
    sa.Column('registering_partner_id', sa.BigInteger(), nullable=True),
    sa.Column('lost_reason', sa.Text(), nullable=True),
    sa.Column('stage_changed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f('ck_opportunity_currency')),
    sa.CheckConstraint("stage <> 'lost' OR lost_reason IS NOT NULL", name=op.f('ck_opportunity_lost_reason')),
    sa.CheckConstraint("stage IN ('lead', 'qualified', 'proposal', 'negotiation', 'won', 'lost')", name=op.f('ck_opportunity_stage')),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_opportunity_amount_not_negative')),
    sa.CheckConstraint('probability BETWEEN 0 AND 100', name=op.f('ck_opportunity_probability')),
    sa.ForeignKeyConstraint(['channel_id'], ['channel.id'], name=op.f('fk_opportunity_channel_id_channel')),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_opportunity_customer_id_customer')),
    sa.ForeignKeyConstraint(['owner_id'], ['app_user.id'], name=op.f('fk_opportunity_owner_id_app_user')),
    sa.ForeignKeyConstraint(['registering_partner_id'], ['customer.id'], name=op.f('fk_opportunity_registering_partner_id_customer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opportunity'))
    )
    op.create_index('ix_opportunity_amount_id', 'opportunity', ['amount', 'id'], unique=False)
    op.create_index('ix_opportunity_channel_id', 'opportunity', ['channel_id'], unique=False)
    op.create_index('ix_opportunity_created_at_id', 'opportunity', ['created_at', 'id'], unique=False)
    op.create_index('ix_opportunity_customer_id_id', 'opportunity', ['customer_id', 'id'], unique=False)
    op.create_index('ix_opportunity_expected_close_id', 'opportunity', ['expected_close', 'id'], unique=False)
    op.create_index('ix_opportunity_owner_id_id', 'opportunity', ['owner_id', 'id'], unique=False)
    op.create_index('ix_opportunity_registering_partner_id', 'opportunity', ['registering_partner_id'], unique=False)
    op.create_index('ix_opportunity_stage_id', 'opportunity', ['stage', 'id'], unique=False)
    op.create_table('sales_order',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('customer_id', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Text(), server_default='placed', nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('total', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('returned_total', sa.Numeric(precision=14, scale=2), server_default=sa.text('0'), nullable=False),
    sa.Column('source', sa.Text(), server_default='api', nullable=False),
    sa.Column('external_reference', sa.Text(), nullable=True),
    sa.Column('placed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('placed_by_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f('ck_sales_order_currency')),
    sa.CheckConstraint("status IN ('placed', 'paid', 'cancelled', 'returned')", name=op.f('ck_sales_order_status')),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_sales_order_customer_id_customer')),
    sa.ForeignKeyConstraint(['placed_by_id'], ['app_user.id'], name=op.f('fk_sales_order_placed_by_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sales_order')),
    sa.UniqueConstraint('source', 'external_reference', name='uq_sales_order_source_external_reference')
    )
    op.create_index('ix_sales_order_customer_id_placed_at_id', 'sales_order', ['customer_id', 'placed_at', 'id'], unique=False)
    op.create_index('ix_sales_order_placed_at_id', 'sales_order', ['placed_at', 'id'], unique=False)
    op.create_index('ix_sales_order_status_id', 'sales_order', ['status', 'id'], unique=False)
    op.create_table('activity',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('customer_id', sa.BigInteger(), nullable=False),
    sa.Column('opportunity_id', sa.BigInteger(), nullable=True),
    sa.Column('contact_id', sa.BigInteger(), nullable=True),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('user_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('call', 'visit', 'email', 'meeting', 'note', 'commitment')", name=op.f('ck_activity_kind')),
    sa.CheckConstraint('length(btrim(subject)) > 0', name=op.f('ck_activity_subject_not_blank')),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], name=op.f('fk_activity_contact_id_contact')),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_activity_customer_id_customer')),
    sa.ForeignKeyConstraint(['opportunity_id'], ['opportunity.id'], name=op.f('fk_activity_opportunity_id_opportunity')),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_activity_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity'))
    )
    op.create_index('ix_activity_contact_id', 'activity', ['contact_id'], unique=False)
    op.create_index('ix_activity_customer_id_occurred_at_id', 'activity', ['customer_id', 'occurred_at', 'id'], unique=False)
    op.create_index('ix_activity_open_commitment', 'activity', ['customer_id', 'due_at'], unique=False, postgresql_where=sa.text("kind = 'commitment' AND done_at IS NULL"))
    op.create_index('ix_activity_open_due', 'activity', ['user_id', 'due_at', 'id'], unique=False, postgresql_where=sa.text('done_at IS NULL AND due_at IS NOT NULL'))
    op.create_index('ix_activity_opportunity_id', 'activity', ['opportunity_id'], unique=False)
    op.create_table('opportunity_stage_change',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('opportunity_id', sa.BigInteger(), nullable=False),
    sa.Column('from_stage', sa.Text(), nullable=True),
    sa.Column('to_stage', sa.Text(), nullable=False),
    sa.Column('probability', sa.SmallInteger(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('changed_by_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['changed_by_id'], ['app_user.id'], name=op.f('fk_opportunity_stage_change_changed_by_id_app_user')),
    sa.ForeignKeyConstraint(['opportunity_id'], ['opportunity.id'], name=op.f('fk_opportunity_stage_change_opportunity_id_opportunity')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opportunity_stage_change'))
    )
    op.create_index('ix_opportunity_stage_change_opportunity_id_changed_at', 'opportunity_stage_change', ['opportunity_id', 'changed_at', 'id'], unique=False)
    op.create_table('order_line',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('order_id', sa.BigInteger(), nullable=False),
    sa.Column('product_id', sa.BigInteger(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('list_unit_price', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('discount_rate', sa.Numeric(precision=5, scale=4), nullable=False),
    sa.Column('net_unit_price', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('line_total', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('returned_quantity', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.CheckConstraint('discount_rate >= 0 AND discount_rate < 1', name=op.f('ck_order_line_discount_rate')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_order_line_quantity_positive')),
    sa.CheckConstraint('returned_quantity BETWEEN 0 AND quantity', name=op.f('ck_order_line_returned_quantity')),
    sa.ForeignKeyConstraint(['order_id'], ['sales_order.id'], name=op.f('fk_order_line_order_id_sales_order')),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_order_line_product_id_product')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_line'))
    )
    op.create_index('ix_order_line_order_id_id', 'order_line', ['order_id', 'id'], unique=False)
    op.create_index('ix_order_line_product_id', 'order_line', ['product_id'], unique=False)
    op.create_table('order_return',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('order_id', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('returned_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('returned_by_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['sales_order.id'], name=op.f('fk_order_return_order_id_sales_order')),
    sa.ForeignKeyConstraint(['returned_by_id'], ['app_user.id'], name=op.f('fk_order_return_returned_by_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_return'))
    )
    op.create_index('ix_order_return_order_id', 'order_return', ['order_id', 'returned_at'], unique=False)
    op.create_table('order_return_line',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('return_id', sa.BigInteger(), nullable=False),
    sa.Column('order_line_id', sa.BigInteger(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_order_return_line_quantity_positive')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_line.id'], name=op.f('fk_order_return_line_order_line_id_order_line')),
    sa.ForeignKeyConstraint(['return_id'], ['order_return.id'], name=op.f('fk_order_return_line_return_id_order_return')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_return_line'))
    )
    op.create_index('ix_order_return_line_return_id', 'order_return_line', ['return_id'], unique=False)
    op.add_column('customer', sa.Column('tax_id', sa.Text(), nullable=True))
    op.add_column('customer', sa.Column('phone_key', sa.Text(), sa.Computed("nullif(regexp_replace(phone, '[^0-9]', '', 'g'), '')", persisted=True), nullable=True))
    op.add_column('customer', sa.Column('tax_id_key', sa.Text(), sa.Computed("nullif(upper(regexp_replace(tax_id, '[\\s./-]', '', 'g')), '')", persisted=True), nullable=True))
    op.add_column('customer', sa.Column('owner_id', sa.BigInteger(), nullable=True))
    op.add_column('customer', sa.Column('source_channel_id', sa.BigInteger(), nullable=True))
    op.add_column('customer', sa.Column('referring_partner_id', sa.BigInteger(), nullable=True))
    op.add_column('customer', sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('customer', sa.Column('merged_into_id', sa.BigInteger(), nullable=True))
    op.add_column('customer', sa.Column('email_opt_out', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.add_column('customer', sa.Column('phone_opt_out', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.add_column('customer', sa.Column('sms_opt_out', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.add_column('customer', sa.Column('do_not_contact', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.create_index('ix_customer_attributes', 'customer', ['attributes'], unique=False, postgresql_using='gin', postgresql_ops={'attributes': 'jsonb_path_ops'})
    op.create_index('ix_customer_classification_id', 'customer', ['classification', 'id'], unique=False)
    op.create_index('ix_customer_created_at_id', 'customer', ['created_at', 'id'], unique=False)
    op.create_index('ix_customer_email', 'customer', ['email'], unique=False, postgresql_where=sa.text('archived_at IS NULL'))
    op.create_index('ix_customer_lifecycle_stage_id', 'customer', ['lifecycle_stage', 'id'], unique=False)
    op.create_index('ix_customer_name_id', 'customer', ['name', 'id'], unique=False)
    op.create_index('ix_customer_name_trgm', 'customer', ['name'], unique=False, postgresql_using='gin', postgresql_ops={'name': 'gin_trgm_ops'})
    op.create_index('ix_customer_owner_id_id', 'customer', ['owner_id', 'id'], unique=False)
    op.create_index('ix_customer_phone_key', 'customer', ['phone_key'], unique=False, postgresql_where=sa.text('archived_at IS NULL'))
    op.create_index('ix_customer_referring_partner_id', 'customer', ['referring_partner_id'], unique=False)
    op.create_index('ix_customer_source_channel_id', 'customer', ['source_channel_id'], unique=False)
    op.create_index('ix_customer_tags', 'customer', ['tags'], unique=False, postgresql_using='gin')
    op.create_index('ix_customer_tax_id_key', 'customer', ['tax_id_key'], unique=False, postgresql_where=sa.text('archived_at IS NULL'))
    op.create_index('ix_customer_updated_at_id', 'customer', ['updated_at', 'id'], unique=False)
    op.create_foreign_key(op.f('fk_customer_owner_id_app_user'), 'customer', 'app_user', ['owner_id'], ['id'], use_alter=True)
    op.create_foreign_key(op.f('fk_customer_merged_into_id_customer'), 'customer', 'customer', ['merged_into_id'], ['id'])
    op.create_foreign_key(op.f('fk_customer_source_channel_id_channel'), 'customer', 'channel', ['source_channel_id'], ['id'])
    op.create_foreign_key(op.f('fk_customer_referring_partner_id_customer'), 'customer', 'customer', ['referring_partner_id'], ['id'])


def downgrade() -> None:
    op.drop_constraint(op.f('fk_customer_referring_partner_id_customer'), 'customer', type_='foreignkey')
    op.drop_constraint(op.f('fk_customer_source_channel_id_channel'), 'customer', type_='foreignkey')
    op.drop_constraint(op.f('fk_customer_merged_into_id_customer'), 'customer', type_='foreignkey')
    op.drop_constraint(op.f('fk_customer_owner_id_app_user'), 'customer', type_='foreignkey')
    op.drop_index('ix_customer_updated_at_id', table_name='customer')
    op.drop_index('ix_customer_tax_id_key', table_name='customer', postgresql_where=sa.text('archived_at IS NULL'))
    op.drop_index('ix_customer_tags', table_name='customer', postgresql_using='gin')
    op.drop_index('ix_customer_source_channel_id', table_name='customer')
    op.drop_index('ix_customer_referring_partner_id', table_name='customer')
    op.drop_index('ix_customer_phone_key', table_name='customer', postgresql_where=sa.text('archived_at IS NULL'))
    op.drop_index('ix_customer_owner_id_id', table_name='customer')
    op.drop_index('ix_customer_name_trgm', table_name='customer', postgresql_using='gin', postgresql_ops={'name': 'gin_trgm_ops'})
    op.drop_index('ix_customer_name_id', table_name='customer')
    op.drop_index('ix_customer_lifecycle_stage_id', table_name='customer')
    op.drop_index('ix_customer_email', table_name='customer', postgresql_where=sa.text('archived_at IS NULL'))
    op.drop_index('ix_customer_created_at_id', table_name='customer')
    op.drop_index('ix_customer_classification_id', table_name='customer')
    op.drop_index('ix_customer_attributes', table_name='customer', postgresql_using='gin', postgresql_ops={'attributes': 'jsonb_path_ops'})
    op.drop_column('customer', 'do_not_contact')
    op.drop_column('customer', 'sms_opt_out')
    op.drop_column('customer', 'phone_opt_out')
    op.drop_column('customer', 'email_opt_out')
    op.drop_column('customer', 'merged_into_id')
    op.drop_column('customer', 'archived_at')
    op.drop_column('customer', 'referring_partner_id')
    op.drop_column('customer', 'source_channel_id')
    op.drop_column('customer', 'owner_id')
    op.drop_column('customer', 'tax_id_key')
    op.drop_column('customer', 'phone_key')
    op.drop_column('customer', 'tax_id')
    op.drop_index('ix_order_return_line_return_id', table_name='order_return_line')
    op.drop_table('order_return_line')
    op.drop_index('ix_order_return_order_id', table_name='order_return')
    op.drop_table('order_return')
    op.drop_index('ix_order_line_product_id', table_name='order_line')
    op.drop_index('ix_order_line_order_id_id', table_name='order_line')
    op.drop_table('order_line')
    op.drop_index('ix_opportunity_stage_change_opportunity_id_changed_at', table_name='opportunity_stage_change')
    op.drop_table('opportunity_stage_change')
    op.drop_index('ix_activity_opportunity_id', table_name='activity')
    op.drop_index('ix_activity_open_due', table_name='activity', postgresql_where=sa.text('done_at IS NULL AND due_at IS NOT NULL'))
    op.drop_index('ix_activity_open_commitment', table_name='activity', postgresql_where=sa.text("kind = 'commitment' AND done_at IS NULL"))
    op.drop_index('ix_activity_customer_id_occurred_at_id', table_name='activity')
    op.drop_index('ix_activity_contact_id', table_name='activity')
    op.drop_table('activity')
    op.drop_index('ix_sales_order_status_id', table_name='sales_order')
    op.drop_index('ix_sales_order_placed_at_id', table_name='sales_order')
    op.drop_index('ix_sales_order_customer_id_placed_at_id', table_name='sales_order')
    op.drop_table('sales_order')
    op.drop_index('ix_opportunity_stage_id', table_name='opportunity')
    op.drop_index('ix_opportunity_registering_partner_id', table_name='opportunity')
    op.drop_index('ix_opportunity_owner_id_id', table_name='opportunity')
    op.drop_index('ix_opportunity_expected_close_id', table_name='opportunity')
    op.drop_index('ix_opportunity_customer_id_id', table_name='opportunity')
    op.drop_index('ix_opportunity_created_at_id', table_name='opportunity')
    op.drop_index('ix_opportunity_channel_id', table_name='opportunity')
    op.drop_index('ix_opportunity_amount_id', table_name='opportunity')
    op.drop_table('opportunity')
    op.drop_index('ix_customer_merge_survivor_id', table_name='customer_merge')
    op.drop_table('customer_merge')
    op.drop_index('ix_channel_spend_channel_id_period_start', table_name='channel_spend')
    op.drop_table('channel_spend')
    op.drop_index('ix_contact_name_id', table_name='contact')
    op.drop_index('ix_contact_email', table_name='contact')
    op.drop_index('ix_contact_customer_id_name_id', table_name='contact')
    op.drop_table('contact')
    op.drop_index('uq_app_user_email', table_name='app_user')
    op.drop_index(op.f('ix_app_user_partner_account_id'), table_name='app_user')
    op.drop_table('app_user')
    op.drop_index('uq_product_sku', table_name='product')
    op.drop_index('ix_product_name_id', table_name='product')
    op.drop_table('product')
    op.drop_index('uq_channel_name', table_name='channel')
    op.drop_table('channel')
