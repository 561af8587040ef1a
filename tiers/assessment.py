"""Bulk assessment in set-based SQL: the same decisions as tiers.engine.assess, for every
member of a programme, in keyset batches of members.

One statement per batch locks the batch's membership rows (orders promoting members
take the same row locks, so assessment is safe while orders arrive), computes each
member's last closed period in the programme's time zone, its qualifying volume from
the ledger, the decision, and the tier in force (fee terms, overrides), then updates
the members whose state changes and appends their tier_change rows. Running it twice
changes nothing the second time: a member's assessed period is remembered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import Code, DomainError
from crm.references import get_row
from crm.validation import Checker
from models import Programme, RuleVersion

# Per member: the closed period (local bounds -> instants), its window, the volume, the
# earned-rank decision and the tier in force afterwards. :as_of, :programme, :version,
# :after, :batch are parameters; the programme's settings come from its row.
DECIDE = """
WITH prog AS (
    SELECT id AS programme_key, time_zone AS tz, window_kind, coalesce(window_months, 1) AS months, demotion_policy, max_drop,
           grace_days, ((CAST(:as_of AS timestamptz) - make_interval(secs => grace_days * 86400)) AT TIME ZONE time_zone) AS ref
    FROM programme WHERE id = :programme
),
tiers AS (SELECT rank, promotion_threshold, retention_threshold, discount_rate FROM tier WHERE rule_version_id = :version),
top AS (SELECT coalesce(max(rank), 0) AS top FROM tiers),
batch AS (
    SELECT m.id, m.joined_at, m.earned_rank, m.earned_until, m.assessed_through, m.tier_rank
    FROM membership m WHERE m.programme_id = :programme AND m.id > :after AND m.joined_at <= :as_of
    ORDER BY m.id LIMIT :batch {lock}
),
anchored AS (
    SELECT b.*, date_trunc('day', b.joined_at AT TIME ZONE p.tz) AS anchor, p.*
    FROM batch b CROSS JOIN prog p
),
local_period AS (
    SELECT a.*,
        CASE a.window_kind
            WHEN 'calendar_year' THEN date_trunc('year', a.ref) - interval '1 year'
            WHEN 'rolling_months' THEN date_trunc('month', a.ref) - interval '1 month'
            ELSE a.anchor + make_interval(years => k.k - 1)
        END AS p_start,
        CASE a.window_kind
            WHEN 'calendar_year' THEN date_trunc('year', a.ref)
            WHEN 'rolling_months' THEN date_trunc('month', a.ref)
            ELSE a.anchor + make_interval(years => k.k)
        END AS p_end,
        CASE a.window_kind
            WHEN 'calendar_year' THEN date_trunc('year', a.ref) + interval '1 year'
            WHEN 'rolling_months' THEN date_trunc('month', a.ref) + interval '1 month'
            ELSE a.anchor + make_interval(years => k.k + 1)
        END AS next_end
    FROM anchored a
    CROSS JOIN LATERAL (
        SELECT (extract(year FROM a.ref) - extract(year FROM a.anchor))::int
               - CASE WHEN a.anchor + make_interval(years => (extract(year FROM a.ref) - extract(year FROM a.anchor))::int) > a.ref
                      THEN 1 ELSE 0 END AS k
    ) k
),
periods AS (
    SELECT l.id, l.joined_at, l.earned_rank, l.earned_until, l.assessed_through, l.tier_rank, l.demotion_policy, l.max_drop,
           (CASE WHEN l.window_kind = 'rolling_months' THEN l.p_end - make_interval(months => l.months) ELSE l.p_start END)
               AT TIME ZONE l.tz AS w_start,
           l.p_end AT TIME ZONE l.tz AS w_end,
           l.next_end AT TIME ZONE l.tz AS next_end
    FROM local_period l
),
-- MATERIALIZED: inlined, each mention of `volume` below re-ran the ledger sum per member
-- (ten times per member on the benchmark data; issue [6/6]'s profile of the assessment).
volumes AS MATERIALIZED (
    SELECT p.*, coalesce((SELECT sum(e.amount) FROM qualifying_entry e
                          WHERE e.membership_id = p.id AND e.occurred_at >= p.w_start AND e.occurred_at < p.w_end), 0) AS volume,
           p.w_end > p.joined_at AND (p.assessed_through IS NULL OR p.assessed_through < p.w_end) AS due,
           least(p.earned_rank, (SELECT top FROM top)) AS earned
    FROM periods p
),
ranked AS MATERIALIZED (
    SELECT v.*,
        coalesce((SELECT max(t.rank) FROM tiers t WHERE v.volume >= t.promotion_threshold), 0) AS promoted,
        coalesce((SELECT max(t.rank) FROM tiers t WHERE t.rank <= v.earned AND v.volume >= t.retention_threshold), 0) AS kept,
        (SELECT t.retention_threshold FROM tiers t WHERE t.rank = v.earned) AS keep_threshold
    FROM volumes v
),
decided AS (
    SELECT r.*,
        CASE
            WHEN NOT r.due THEN NULL
            WHEN r.promoted > r.earned THEN 'promoted'
            WHEN r.earned = 0 OR r.volume >= r.keep_threshold OR r.demotion_policy = 'never'
                 OR (r.earned_until IS NOT NULL AND r.earned_until > r.w_end) THEN NULL
            WHEN greatest(r.kept, r.earned - r.max_drop) < r.earned THEN 'demoted'
        END AS reason
    FROM ranked r
),
outcome AS (
    SELECT d.*,
        CASE d.reason WHEN 'promoted' THEN d.promoted WHEN 'demoted' THEN greatest(d.kept, d.earned - d.max_drop)
             ELSE d.earned_rank END AS new_earned,
        CASE d.reason WHEN 'promoted' THEN d.next_end WHEN 'demoted' THEN NULL ELSE d.earned_until END AS new_until
    FROM decided d
),
final AS MATERIALIZED (
    SELECT o.*,
        least((SELECT top FROM top), coalesce(
            (SELECT ov.tier_rank FROM tier_override ov WHERE ov.membership_id = o.id AND ov.kind = 'lock'
                AND ov.starts_at <= :as_of AND (ov.expires_at IS NULL OR ov.expires_at > :as_of)
                AND (ov.revoked_at IS NULL OR ov.revoked_at > :as_of) ORDER BY ov.starts_at DESC, ov.id DESC LIMIT 1),
            greatest(least(o.new_earned, (SELECT top FROM top)),
                (SELECT coalesce(max(f.tier_rank), 0) FROM fee_payment f WHERE f.membership_id = o.id
                    AND f.term_start <= :as_of AND f.term_end > :as_of AND (f.refunded_at IS NULL OR f.refunded_at > :as_of)),
                (SELECT coalesce(max(ov.tier_rank), 0) FROM tier_override ov WHERE ov.membership_id = o.id AND ov.kind = 'floor'
                    AND ov.starts_at <= :as_of AND (ov.expires_at IS NULL OR ov.expires_at > :as_of)
                    AND (ov.revoked_at IS NULL OR ov.revoked_at > :as_of)))
        )) AS new_effective
    FROM outcome o
)
"""

APPLY = DECIDE + """,
changed AS (
    SELECT * FROM final WHERE reason IS NOT NULL OR new_effective <> tier_rank
),
updated AS (
    UPDATE membership m SET earned_rank = c.new_earned, earned_until = c.new_until, tier_rank = c.new_effective,
        assessed_through = CASE WHEN c.due THEN c.w_end ELSE m.assessed_through END
    FROM changed c WHERE m.id = c.id
    RETURNING m.id
),
history AS (
    INSERT INTO tier_change (membership_id, from_rank, to_rank, reason, rule_version_id, window_start, window_end,
                             qualifying_volume, explanation, at)
    SELECT c.id, c.tier_rank, c.new_effective, coalesce(c.reason, 'expired'), :version, c.w_start, c.w_end, c.volume,
           jsonb_build_object('rule', coalesce(c.reason, 'expired'), 'volume', c.volume::text, 'earned_before', c.earned_rank,
                              'earned_rank', c.new_earned, 'promoted_rank', c.promoted, 'retained_rank', c.kept,
                              'retention_threshold', c.keep_threshold::text, 'max_drop', c.max_drop, 'rule_version', :version),
           :as_of
    FROM changed c
    RETURNING reason
)
SELECT (SELECT max(id) FROM batch) AS last_id, (SELECT count(*) FROM batch) AS members,
       (SELECT count(*) FROM history WHERE reason = 'promoted') AS promoted,
       (SELECT count(*) FROM history WHERE reason = 'demoted') AS demoted,
       (SELECT count(*) FROM history WHERE reason = 'expired') AS expired,
       (SELECT count(*) FROM updated) AS updated
"""


@dataclass
class AssessmentRun:
    members: int = 0
    promoted: int = 0
    demoted: int = 0
    expired: int = 0
    batches: int = 0
    rule_version_id: int | None = None
    as_of: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


async def version_in_force(session: AsyncSession, programme_id: int, at: datetime) -> int | None:
    return (await session.execute(text(
        "SELECT id FROM rule_version WHERE programme_id = :p AND status = 'published' AND effective_from <= :at "
        "ORDER BY effective_from DESC LIMIT 1"), {"p": programme_id, "at": at})).scalar_one_or_none()


async def assess_batch(session: AsyncSession, programme_id: int, version_id: int, as_of: datetime, *, after: int,
                       batch: int) -> dict[str, Any]:
    row = (await session.execute(text(APPLY.replace("{lock}", "FOR UPDATE")), {
        "programme": programme_id, "version": version_id, "as_of": as_of, "after": after, "batch": batch,
    })).mappings().one()
    return dict(row)


async def assess_programme(session_factory: Callable[[], Any], programme_id: int, as_of: datetime, *,
                           batch: int = 5000, progress: Callable[[AssessmentRun], None] | None = None) -> AssessmentRun:
    """Assesses every member, one short transaction per batch of members (so the locks of
    one batch are held only while it is assessed)."""
    check = Checker()
    check.aware("as_of", as_of)
    check.done()
    async with session_factory() as session:
        programme = await get_row(session, Programme, programme_id)
        if programme is None:
            raise DomainError.one("programme_id", "No programme has this ID.", Code.NOT_FOUND)
        version_id = await version_in_force(session, programme_id, as_of)
    run = AssessmentRun(rule_version_id=version_id, as_of=as_of)
    if version_id is None:
        return run
    after = 0
    while True:
        async with session_factory() as session, session.begin():
            result = await assess_batch(session, programme_id, version_id, as_of, after=after, batch=batch)
        if not result["members"]:
            return run
        run.members += result["members"]
        run.promoted += result["promoted"]
        run.demoted += result["demoted"]
        run.expired += result["expired"]
        run.batches += 1
        after = result["last_id"]
        if progress:
            progress(run)


async def decisions(session: AsyncSession, programme_id: int, version_id: int, as_of: datetime) -> list[dict[str, Any]]:
    """Every member's decision without writing anything (previews, and the property test
    that compares the SQL with tiers.engine.assess)."""
    rows = await session.execute(text(DECIDE.replace("{lock}", "") + """
        SELECT id, reason, new_earned, new_until, volume, w_start, w_end, tier_rank, new_effective FROM final ORDER BY id"""),
        {"programme": programme_id, "version": version_id, "as_of": as_of, "after": 0, "batch": 2_000_000_000})
    return [dict(r) for r in rows.mappings()]


@dataclass(frozen=True)
class Preview:
    moves: list[tuple[int, int, int]]  # (tier in force now, tier after, members)
    discount_cost_change: Decimal
    currency: str


async def preview(session: AsyncSession, version_id: int, as_of: datetime) -> Preview:
    """What a draft (or any) rule version would do to every member at `as_of`, without
    writing: members per (tier now, tier after), and how the discount given on the orders
    of each member's last closed window would change under the tier it would have."""
    check = Checker()
    check.aware("as_of", as_of)
    check.done()
    version = await get_row(session, RuleVersion, version_id)
    if version is None:
        raise DomainError.one("version_id", "No rule version has this ID.", Code.NOT_FOUND)
    programme = await get_row(session, Programme, version.programme_id)
    rows = await session.execute(text(DECIDE.replace("{lock}", "") + """,
        moves AS (SELECT tier_rank AS now_rank, new_effective AS new_rank, count(*) AS members FROM final GROUP BY 1, 2),
        cost AS (
            SELECT coalesce(sum(l.list_unit_price * (l.quantity - l.returned_quantity)
                                * (coalesce((SELECT t.discount_rate FROM tiers t WHERE t.rank = f.new_effective), 0) - l.discount_rate)), 0) AS change
            FROM final f
            JOIN membership m ON m.id = f.id
            JOIN sales_order o ON o.customer_id = m.account_id AND o.placed_at >= f.w_start AND o.placed_at < f.w_end
                 AND o.status <> 'cancelled' AND o.currency = (SELECT currency FROM programme WHERE id = :programme)
            JOIN order_line l ON l.order_id = o.id
        )
        SELECT 'move' AS kind, now_rank, new_rank, members, NULL::numeric AS change FROM moves
        UNION ALL SELECT 'cost', NULL, NULL, NULL, change FROM cost"""),
        {"programme": programme.id, "version": version_id, "as_of": as_of, "after": 0, "batch": 2_000_000_000})
    moves, change = [], Decimal("0")
    for row in rows.mappings():
        if row["kind"] == "move":
            moves.append((row["now_rank"], row["new_rank"], row["members"]))
        else:
            change = Decimal(row["change"]).quantize(Decimal("0.01"))
    return Preview(sorted(moves), change, programme.currency)

