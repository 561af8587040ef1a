"""event outbox

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

Issue [4/7]: every change writes its events in its own transaction (events.outbox);
the feed, webhooks and subscriptions read them from here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('event',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('transaction_id', sa.BigInteger(), server_default=sa.text('(pg_current_xact_id()::text)::bigint'),
              nullable=False),
    sa.Column('type', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('aggregate_type', sa.Text(), nullable=False),
    sa.Column('aggregate_id', sa.BigInteger(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=True),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event')),
    sa.UniqueConstraint('aggregate_type', 'aggregate_id', 'sequence',
                        name=op.f('uq_event_aggregate_type_aggregate_id_sequence'))
    )
    op.create_index('ix_event_transaction_id', 'event', ['transaction_id', 'id'], unique=False)
    op.create_index('ix_event_account_id', 'event', ['account_id', 'transaction_id', 'id'], unique=False)
    op.create_table('event_stream',
    sa.Column('aggregate_type', sa.Text(), nullable=False),
    sa.Column('aggregate_id', sa.BigInteger(), nullable=False),
    sa.Column('last_sequence', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('aggregate_type', 'aggregate_id', name=op.f('pk_event_stream'))
    )
    # Append-only: what was published stays as it was (TRUNCATE, for tests and resets, is not a row change).
    op.execute("""CREATE FUNCTION event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'event rows are append-only' USING ERRCODE = 'restrict_violation'; END $$""")
    op.execute("CREATE TRIGGER event_append_only BEFORE UPDATE OR DELETE ON event "
               "FOR EACH ROW EXECUTE FUNCTION event_append_only()")


def downgrade() -> None:
    op.execute("DROP TRIGGER event_append_only ON event")
    op.execute("DROP FUNCTION event_append_only()")
    op.drop_table('event_stream')
    op.drop_index('ix_event_account_id', table_name='event')
    op.drop_index('ix_event_transaction_id', table_name='event')
    op.drop_table('event')
