"""the feed's order is a position given after commit

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02

The feed was ordered by (writing transaction, id), which is not the order in which one
aggregate's transactions commit: a transaction that took its id earlier could write the
aggregate's next event later, so the feed gave sequence 450 before 448. It also had to
wait for every older transaction on the server, any database, to end. Now a sequencer
(events.outbox.advance) numbers committed events 1, 2, 3, ... in id order, which per
aggregate is commit order; readers page by that number. The append-only rule allows
exactly that one change: a position given once, to a row without one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = """CREATE OR REPLACE FUNCTION event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND OLD.position IS NULL AND NEW.position IS NOT NULL
           AND to_jsonb(NEW) - 'position' = to_jsonb(OLD) - 'position' THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'event rows are append-only' USING ERRCODE = 'restrict_violation';
    END $$"""


def upgrade() -> None:
    op.add_column('event', sa.Column('position', sa.BigInteger(), nullable=True))
    op.execute(APPEND_ONLY)
    op.execute("""UPDATE event e SET position = n.position
                  FROM (SELECT id, row_number() OVER (ORDER BY id) AS position FROM event) n WHERE n.id = e.id""")
    op.drop_index('ix_event_account_id', table_name='event')
    op.drop_index('ix_event_transaction_id', table_name='event')
    op.drop_column('event', 'transaction_id')
    op.create_index('ix_event_position', 'event', ['position'], unique=True)
    op.create_index('ix_event_account_id', 'event', ['account_id', 'position'], unique=False)
    op.create_index('ix_event_unpositioned', 'event', ['id'], unique=False, postgresql_where=sa.text('position IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_event_unpositioned', table_name='event')
    op.drop_index('ix_event_account_id', table_name='event')
    op.drop_index('ix_event_position', table_name='event')
    op.add_column('event', sa.Column('transaction_id', sa.BigInteger(), nullable=False, server_default=sa.text('0')))
    op.alter_column('event', 'transaction_id', server_default=sa.text('(pg_current_xact_id()::text)::bigint'))
    op.drop_column('event', 'position')
    op.execute("""CREATE OR REPLACE FUNCTION event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'event rows are append-only' USING ERRCODE = 'restrict_violation'; END $$""")
    op.create_index('ix_event_transaction_id', 'event', ['transaction_id', 'id'], unique=False)
    op.create_index('ix_event_account_id', 'event', ['account_id', 'transaction_id', 'id'], unique=False)
