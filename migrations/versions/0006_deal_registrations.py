"""deal registrations

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

Issue [5/6]: partners' deal registrations (exclusive claims with an expiry).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('deal_registration',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('partner_id', sa.BigInteger(), nullable=False),
    sa.Column('customer_id', sa.BigInteger(), nullable=False),
    sa.Column('opportunity_id', sa.BigInteger(), nullable=True),
    sa.Column('registered_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_deal_registration_customer_id_customer')),
    sa.ForeignKeyConstraint(['opportunity_id'], ['opportunity.id'], name=op.f('fk_deal_registration_opportunity_id_opportunity')),
    sa.ForeignKeyConstraint(['partner_id'], ['customer.id'], name=op.f('fk_deal_registration_partner_id_customer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deal_registration'))
    )
    op.create_index('ix_deal_registration_customer_id_expires_at', 'deal_registration', ['customer_id', 'expires_at'], unique=False)
    op.create_index('ix_deal_registration_partner_id', 'deal_registration', ['partner_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_deal_registration_partner_id', table_name='deal_registration')
    op.drop_index('ix_deal_registration_customer_id_expires_at', table_name='deal_registration')
    op.drop_table('deal_registration')
