"""programme maintenance, upgrade credits, inbound activities

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

A programme gets a description and can be archived; a fee payment that upgrades within
a lower tier's term records the credit it was given and the payment it came from (the
credited payment keeps its own row as it was). An activity says whether the customer
reached out (inbound: no consent needed), and text messages are an activity kind.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('programme', sa.Column('description', sa.Text(), nullable=True))
    op.add_column('programme', sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('fee_payment', sa.Column('credit_amount', sa.Numeric(14, 2), server_default=sa.text('0'), nullable=False))
    op.add_column('fee_payment', sa.Column('credited_payment_id', sa.BigInteger(), nullable=True))
    op.create_foreign_key(op.f('fk_fee_payment_credited_payment_id_fee_payment'), 'fee_payment', 'fee_payment',
                          ['credited_payment_id'], ['id'])
    op.create_check_constraint(op.f('ck_fee_payment_credit_amount'), 'fee_payment', 'credit_amount >= 0')
    op.create_check_constraint(op.f('ck_fee_payment_credit_source'), 'fee_payment',
                               '(credit_amount > 0) = (credited_payment_id IS NOT NULL)')
    op.create_index('ix_fee_payment_credited_payment_id', 'fee_payment', ['credited_payment_id'], unique=False,
                    postgresql_where=sa.text('credited_payment_id IS NOT NULL'))
    op.add_column('activity', sa.Column('inbound', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.drop_constraint(op.f('ck_activity_kind'), 'activity', type_='check')
    op.create_check_constraint(op.f('ck_activity_kind'), 'activity',
                               "kind IN ('call', 'visit', 'email', 'sms', 'meeting', 'note', 'commitment')")


def downgrade() -> None:
    op.execute("DELETE FROM activity WHERE kind = 'sms'")
    op.drop_constraint(op.f('ck_activity_kind'), 'activity', type_='check')
    op.create_check_constraint(op.f('ck_activity_kind'), 'activity',
                               "kind IN ('call', 'visit', 'email', 'meeting', 'note', 'commitment')")
    op.drop_column('activity', 'inbound')
    op.drop_index('ix_fee_payment_credited_payment_id', table_name='fee_payment',
                  postgresql_where=sa.text('credited_payment_id IS NOT NULL'))
    op.drop_constraint(op.f('ck_fee_payment_credit_source'), 'fee_payment', type_='check')
    op.drop_constraint(op.f('ck_fee_payment_credit_amount'), 'fee_payment', type_='check')
    op.drop_constraint(op.f('fk_fee_payment_credited_payment_id_fee_payment'), 'fee_payment', type_='foreignkey')
    op.drop_column('fee_payment', 'credited_payment_id')
    op.drop_column('fee_payment', 'credit_amount')
    op.drop_column('programme', 'archived_at')
    op.drop_column('programme', 'description')
