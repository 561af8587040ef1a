"""the tier at an instant: earned state in history, one SQL function

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

Every reader asks "the tier in force for this membership at instant t". The earned tier
at t comes from history (tier_change.earned_rank / earned_until, written by every row),
not from membership.earned_rank, which is only the cache of now. `tier_state_at` is the
one SQL answer (tiers.instants.tier_in_force is the same rule as a pure function).
Explanations refer to other objects by typed references ({"$ref": type, "id": pk}) that
the API renders as global IDs; the integer ids of older rows are converted.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_REASONS = "reason IN ('fee_paid', 'promoted', 'demoted', 'override', 'expired', 'refund')"
NEW_REASONS = "reason IN ('fee_paid', 'promoted', 'demoted', 'override', 'expired', 'refund', 'earned')"

# Fee terms (paid, not refunded at t, term_start <= t < term_end), the earned rank at t
# from history (the latest row at or before t, ties by id; 0 before any) unless the
# caller passes the one it is writing, live floors and the latest live lock, combined
# and clamped to the tiers of the rule version in force at t.
TIER_STATE_AT = """
CREATE FUNCTION tier_state_at(p_membership bigint, p_at timestamptz, p_earned integer DEFAULT NULL)
RETURNS TABLE (effective integer, earned integer, fee integer, floor integer, lock integer, version_id bigint,
               earned_until timestamptz, change_id bigint)
LANGUAGE sql STABLE AS $$
    WITH version AS (
        SELECT (SELECT rv.id FROM rule_version rv JOIN membership m ON m.programme_id = rv.programme_id
                WHERE m.id = p_membership AND rv.status = 'published' AND rv.effective_from <= p_at
                ORDER BY rv.effective_from DESC LIMIT 1) AS id
    ),
    top AS (
        SELECT v.id AS version_id, coalesce((SELECT max(t.rank) FROM tier t WHERE t.rule_version_id = v.id), 0) AS top
        FROM version v
    ),
    history AS (
        SELECT c.id, c.earned_rank, c.earned_until FROM tier_change c
        WHERE c.membership_id = p_membership AND c.at <= p_at ORDER BY c.at DESC, c.id DESC LIMIT 1
    ),
    live_overrides AS (
        SELECT o.id, o.kind, o.tier_rank, o.starts_at FROM tier_override o
        WHERE o.membership_id = p_membership AND o.starts_at <= p_at
          AND (o.expires_at IS NULL OR o.expires_at > p_at) AND (o.revoked_at IS NULL OR o.revoked_at > p_at)
    ),
    parts AS (
        SELECT coalesce(p_earned, (SELECT h.earned_rank FROM history h), 0) AS earned,
               (SELECT h.earned_until FROM history h) AS earned_until,
               (SELECT h.id FROM history h) AS change_id,
               (SELECT coalesce(max(f.tier_rank), 0) FROM fee_payment f
                WHERE f.membership_id = p_membership AND f.term_start <= p_at AND f.term_end > p_at
                  AND (f.refunded_at IS NULL OR f.refunded_at > p_at)) AS fee,
               (SELECT coalesce(max(o.tier_rank), 0) FROM live_overrides o WHERE o.kind = 'floor') AS floor,
               (SELECT o.tier_rank FROM live_overrides o WHERE o.kind = 'lock'
                ORDER BY o.starts_at DESC, o.id DESC LIMIT 1) AS lock
    )
    SELECT least(t.top, coalesce(p.lock, greatest(p.earned, p.fee, p.floor)))::integer,
           least(p.earned, t.top)::integer, least(p.fee, t.top)::integer, least(p.floor, t.top)::integer,
           CASE WHEN p.lock IS NULL THEN NULL ELSE least(p.lock, t.top) END::integer,
           t.version_id, p.earned_until, p.change_id
    FROM parts p CROSS JOIN top t
$$
"""

REFS = {"fee_payment": "FeePayment", "override": "TierOverride", "override_revoked": "TierOverride",
        "rule_version": "RuleVersion"}


def upgrade() -> None:
    op.add_column('tier_change', sa.Column('earned_rank', sa.SmallInteger(), server_default=sa.text('0'), nullable=False))
    op.add_column('tier_change', sa.Column('earned_until', sa.DateTime(timezone=True), nullable=True))
    # record_change stored the membership's earned rank (after the change) in every row.
    op.execute("""UPDATE tier_change SET earned_rank = coalesce((explanation->>'earned_rank')::int, 0)
                  WHERE explanation ? 'earned_rank'""")
    # The hold: a promotion's own; later rows of the same earned rank keep it; the latest
    # row of a member has the membership's (the cache of now).
    op.execute("""
        UPDATE tier_change c SET earned_until = (
            SELECT (p.explanation->>'held_until')::timestamptz FROM tier_change p
            WHERE p.membership_id = c.membership_id AND (p.at, p.id) <= (c.at, c.id) AND p.explanation ? 'held_until'
              AND p.earned_rank = c.earned_rank
              AND NOT EXISTS (SELECT 1 FROM tier_change d WHERE d.membership_id = c.membership_id
                              AND d.reason = 'demoted' AND (d.at, d.id) > (p.at, p.id) AND (d.at, d.id) <= (c.at, c.id))
            ORDER BY p.at DESC, p.id DESC LIMIT 1)""")
    op.execute("""
        UPDATE tier_change c SET earned_until = m.earned_until FROM membership m
        WHERE m.id = c.membership_id AND c.id = (SELECT l.id FROM tier_change l WHERE l.membership_id = m.id
                                                 ORDER BY l.at DESC, l.id DESC LIMIT 1)""")
    for key, type_name in REFS.items():
        op.execute(f"""UPDATE tier_change SET explanation = jsonb_set(explanation, '{{{key}}}',
                       jsonb_build_object('$ref', '{type_name}', 'id', explanation->'{key}'))
                       WHERE jsonb_typeof(explanation->'{key}') = 'number'""")
    op.drop_constraint(op.f('ck_tier_change_reason'), 'tier_change', type_='check')
    op.create_check_constraint(op.f('ck_tier_change_reason'), 'tier_change', NEW_REASONS)
    op.execute(TIER_STATE_AT)


def downgrade() -> None:
    op.execute("DROP FUNCTION tier_state_at(bigint, timestamptz, integer)")
    op.execute("UPDATE tier_change SET reason = 'promoted' WHERE reason = 'earned'")
    op.drop_constraint(op.f('ck_tier_change_reason'), 'tier_change', type_='check')
    op.create_check_constraint(op.f('ck_tier_change_reason'), 'tier_change', OLD_REASONS)
    for key in REFS:
        op.execute(f"""UPDATE tier_change SET explanation = jsonb_set(explanation, '{{{key}}}', explanation->'{key}'->'id')
                       WHERE jsonb_typeof(explanation->'{key}') = 'object'""")
    op.drop_column('tier_change', 'earned_until')
    op.drop_column('tier_change', 'earned_rank')
