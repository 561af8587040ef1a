"""Bulk assessment in set-based SQL: the same decisions as tiers.engine.assess, for every
member of a programme, in keyset batches of members.

One statement per batch computes each member's last closed period in the programme's
time zone, its qualifying volume from the ledger, the decision, and the tier in force
(fee terms, overrides), then updates the members whose state changes and appends their
tier_change rows. Only the rows it updates are locked, and only where the membership
row is still as the statement read it: a member whose tier an order, a fee or an
override changed in the meantime is left out, and its batch is decided again. The
ledger, fee terms and overrides are read as of the statement's start (as when the
batch's rows were locked up front, which waited for such writers but read the other
tables at that same start). Running it twice changes nothing the second time: a
member's assessed period is remembered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from events.outbox import emit_all
from kernel.errors import Code, DomainError
from kernel.references import get_row
from kernel.validation import Checker
from models import Programme, RuleVersion, Tier
from tiers.membership import history_emissions
from tiers.programmes import rules_in_force, version_rules
from tiers.risk import RiskRule, check_programme
from tiers.rules import Rules

# Per member: the closed period (local bounds -> instants), its window, the volume, the
# earned-rank decision and the tier in force afterwards, for one batch of members.
# :as_of, :programme, :version, :after, :batch are parameters; the programme's settings
# come from its row. `decide_sql` fills in the parts that depend on the window kind and
# on the version's tiers.
#
# Set-based on purpose: with a subquery per member (its ledger sum, its fee terms and
# overrides, three over the tiers) one batch of 5,000 took ~115 ms to decide; joins over
# the batch's id range take a few ms per 5,000 (issue [6/6]'s profile, docs/performance.md).
_DECIDE = """
WITH prog AS (
    SELECT id AS programme_key, time_zone AS tz, window_kind, coalesce(window_months, 1) AS months, demotion_policy, max_drop,
           grace_days, ((CAST(:as_of AS timestamptz) - make_interval(secs => grace_days * 86400)) AT TIME ZONE time_zone) AS ref
    FROM programme WHERE id = :programme
),
tiers AS (SELECT rank, promotion_threshold, retention_threshold, discount_rate FROM tier WHERE rule_version_id = :version),
batch AS MATERIALIZED (
    SELECT m.id, m.joined_at, m.earned_rank, m.earned_until, m.assessed_through, m.tier_rank, m.account_id
    FROM membership m WHERE m.programme_id = :programme AND m.id > :after AND m.id <= :upto AND m.joined_at <= :as_of
    ORDER BY m.id LIMIT :batch
),
span AS MATERIALIZED (SELECT min(id) AS first_id, max(id) AS last_id FROM batch),
{periods_and_volumes},
ranked AS (
    SELECT v.*, {promoted} AS promoted, {kept} AS kept, {keep_threshold} AS keep_threshold
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
-- Fee terms and overrides live at :as_of, of the batch's id range: the rule of the SQL
-- function tier_state_at (migration 0008), set-based for a batch with its new earned
-- ranks (per member, the function was the slow subquery-per-member plan above);
-- tests/test_assessment_property.py checks that the two agree.
fees AS (
    SELECT f.membership_id, max(f.tier_rank) AS rank
    FROM fee_payment f
    WHERE f.membership_id BETWEEN (SELECT first_id FROM span) AND (SELECT last_id FROM span)
      AND f.term_start <= :as_of AND f.term_end > :as_of AND (f.refunded_at IS NULL OR f.refunded_at > :as_of)
    GROUP BY f.membership_id
),
live_overrides AS MATERIALIZED (
    SELECT ov.membership_id, ov.kind, ov.tier_rank, ov.starts_at, ov.id
    FROM tier_override ov
    WHERE ov.membership_id BETWEEN (SELECT first_id FROM span) AND (SELECT last_id FROM span)
      AND ov.starts_at <= :as_of AND (ov.expires_at IS NULL OR ov.expires_at > :as_of)
      AND (ov.revoked_at IS NULL OR ov.revoked_at > :as_of)
),
floors AS (SELECT membership_id, max(tier_rank) AS rank FROM live_overrides WHERE kind = 'floor' GROUP BY membership_id),
locks AS (
    SELECT DISTINCT ON (membership_id) membership_id, tier_rank AS rank FROM live_overrides WHERE kind = 'lock'
    ORDER BY membership_id, starts_at DESC, id DESC
),
-- The tier in force at :as_of before the decision, by the same rule: the earned rank
-- of the latest history row at or before :as_of (not the membership's cache, which is
-- "as last written"), clamped to the rule version in force at :as_of (a preview's
-- version may be a draft). What a preview moves members from, and what a decision's
-- history row changes from.
earned_then AS (
    SELECT DISTINCT ON (h.membership_id) h.membership_id, h.earned_rank
    FROM tier_change h
    WHERE h.membership_id BETWEEN (SELECT first_id FROM span) AND (SELECT last_id FROM span) AND h.at <= :as_of
    ORDER BY h.membership_id, h.at DESC, h.id DESC
),
top_then AS (
    SELECT coalesce((SELECT max(t.rank) FROM tier t WHERE t.rule_version_id = (
        SELECT rv.id FROM rule_version rv WHERE rv.programme_id = :programme AND rv.status = 'published'
          AND rv.effective_from <= :as_of ORDER BY rv.effective_from DESC LIMIT 1)), 0) AS top
),
final AS MATERIALIZED (
    SELECT o.*,
        least(CAST(:top AS int), coalesce(lk.rank, greatest(least(o.new_earned, CAST(:top AS int)), coalesce(fe.rank, 0),
                                                            coalesce(fl.rank, 0)))) AS new_effective,
        least(tt.top, coalesce(lk.rank, greatest(coalesce(et.earned_rank, 0), coalesce(fe.rank, 0),
                                                 coalesce(fl.rank, 0)))) AS now_effective
    FROM outcome o
    CROSS JOIN top_then tt
    LEFT JOIN earned_then et ON et.membership_id = o.id
    LEFT JOIN fees fe ON fe.membership_id = o.id
    LEFT JOIN floors fl ON fl.membership_id = o.id
    LEFT JOIN locks lk ON lk.membership_id = o.id
)
"""

# Calendar and rolling windows: every member's last closed period is the same, so it is
# computed once and the ledger is read as one range of its index, grouped by member.
_SHARED_WINDOW = """
shared AS MATERIALIZED (
    SELECT p.*,
        (CASE p.window_kind WHEN 'calendar_year' THEN date_trunc('year', p.ref) - interval '1 year'
             ELSE date_trunc('month', p.ref) - make_interval(months => p.months) END) AT TIME ZONE p.tz AS w_start,
        (CASE p.window_kind WHEN 'calendar_year' THEN date_trunc('year', p.ref)
             ELSE date_trunc('month', p.ref) END) AT TIME ZONE p.tz AS w_end,
        (CASE p.window_kind WHEN 'calendar_year' THEN date_trunc('year', p.ref) + interval '1 year'
             ELSE date_trunc('month', p.ref) + interval '1 month' END) AT TIME ZONE p.tz AS next_end
    FROM prog p
),
periods AS (
    SELECT b.id, b.joined_at, b.earned_rank, b.earned_until, b.assessed_through, b.tier_rank, s.demotion_policy, s.max_drop,
           s.w_start, s.w_end, s.next_end
    FROM batch b CROSS JOIN shared s
),
ledger AS (
    SELECT e.membership_id, sum(e.amount) AS volume
    FROM qualifying_entry e
    WHERE e.membership_id BETWEEN (SELECT first_id FROM span) AND (SELECT last_id FROM span)
      AND e.occurred_at >= (SELECT w_start FROM shared) AND e.occurred_at < (SELECT w_end FROM shared)
    GROUP BY e.membership_id
),
volumes AS (
    SELECT p.*, coalesce(l.volume, 0) AS volume,
           p.w_end > p.joined_at AND (p.assessed_through IS NULL OR p.assessed_through < p.w_end) AS due,
           least(p.earned_rank, CAST(:top AS int)) AS earned
    FROM periods p LEFT JOIN ledger l ON l.membership_id = p.id
)"""

# Anniversary windows: each member's period starts on the local day it joined.
_OWN_WINDOW = """
anchored AS (
    SELECT b.*, date_trunc('day', b.joined_at AT TIME ZONE p.tz) AS anchor, p.*
    FROM batch b CROSS JOIN prog p
),
local_period AS (
    SELECT a.*, a.anchor + make_interval(years => k.k - 1) AS p_start, a.anchor + make_interval(years => k.k) AS p_end,
           a.anchor + make_interval(years => k.k + 1) AS next_end
    FROM anchored a
    CROSS JOIN LATERAL (
        SELECT (extract(year FROM a.ref) - extract(year FROM a.anchor))::int
               - CASE WHEN a.anchor + make_interval(years => (extract(year FROM a.ref) - extract(year FROM a.anchor))::int) > a.ref
                      THEN 1 ELSE 0 END AS k
    ) k
),
periods AS (
    SELECT l.id, l.joined_at, l.earned_rank, l.earned_until, l.assessed_through, l.tier_rank, l.demotion_policy, l.max_drop,
           l.p_start AT TIME ZONE l.tz AS w_start, l.p_end AT TIME ZONE l.tz AS w_end, l.next_end AT TIME ZONE l.tz AS next_end
    FROM local_period l
),
-- MATERIALIZED: inlined, each mention of `volume` below re-ran the ledger sum per member.
volumes AS MATERIALIZED (
    SELECT p.*, coalesce((SELECT sum(e.amount) FROM qualifying_entry e
                          WHERE e.membership_id = p.id AND e.occurred_at >= p.w_start AND e.occurred_at < p.w_end), 0) AS volume,
           p.w_end > p.joined_at AND (p.assessed_through IS NULL OR p.assessed_through < p.w_end) AS due,
           least(p.earned_rank, CAST(:top AS int)) AS earned
    FROM periods p
)"""


@dataclass(frozen=True)
class TierThresholds:
    rank: int
    promotion: Decimal
    retention: Decimal


def decide_sql(window_kind: str, tiers: list[TierThresholds]) -> tuple[str, dict[str, Any]]:
    """The decision statement for a programme's window kind and a version's tiers, and
    the parameters it adds. The tiers are written in as CASE branches, highest rank
    first: "the highest rank whose threshold the volume reaches" then costs a comparison
    or two per member instead of a scan of the tiers."""
    parameters: dict[str, Any] = {"top": max((t.rank for t in tiers), default=0)}
    promoted, kept, keep_threshold = [], [], []
    for tier in sorted(tiers, key=lambda t: t.rank, reverse=True):
        promotion, retention = f"promotion_{tier.rank}", f"retention_{tier.rank}"
        parameters[promotion], parameters[retention] = tier.promotion, tier.retention
        promoted.append(f"WHEN v.volume >= CAST(:{promotion} AS numeric) THEN {tier.rank}")
        kept.append(f"WHEN v.earned >= {tier.rank} AND v.volume >= CAST(:{retention} AS numeric) THEN {tier.rank}")
        keep_threshold.append(f"WHEN {tier.rank} THEN CAST(:{retention} AS numeric)")
    sql = _DECIDE.format(
        periods_and_volumes=(_OWN_WINDOW if window_kind == "anniversary" else _SHARED_WINDOW).strip(),
        promoted=f"CASE {' '.join(promoted)} ELSE 0 END" if tiers else "0",
        kept=f"CASE {' '.join(kept)} ELSE 0 END" if tiers else "0",
        keep_threshold=f"CASE v.earned {' '.join(keep_threshold)} END" if tiers else "CAST(NULL AS numeric)",
    )
    return sql, parameters


async def decision_statement(session: AsyncSession, programme_id: int,
                             version_id: int) -> tuple[str, dict[str, Any]]:
    """`decide_sql` for a programme and a version, read from the database."""
    window_kind = (await session.execute(select(Programme.window_kind).where(Programme.id == programme_id))).scalar_one()
    tiers = [TierThresholds(rank, promotion, retention) for rank, promotion, retention in await session.execute(
        select(Tier.rank, Tier.promotion_threshold, Tier.retention_threshold).where(Tier.rule_version_id == version_id))]
    return decide_sql(window_kind, tiers)


_APPLY = """,
changed AS (
    SELECT * FROM final WHERE reason IS NOT NULL OR new_effective <> tier_rank
),
-- Row locks only for the members that change (locking the whole batch up front was a
-- third of deciding it), and only if the row is as read: the UPDATE re-checks these
-- columns on a row that changed since the statement began.
updated AS (
    UPDATE membership m SET earned_rank = c.new_earned, earned_until = c.new_until, tier_rank = c.new_effective,
        assessed_through = CASE WHEN c.due THEN c.w_end ELSE m.assessed_through END
    FROM changed c
    WHERE m.id = c.id AND m.id BETWEEN (SELECT first_id FROM span) AND (SELECT last_id FROM span)
      AND m.earned_rank = c.earned_rank AND m.tier_rank = c.tier_rank
      AND m.earned_until IS NOT DISTINCT FROM c.earned_until AND m.assessed_through IS NOT DISTINCT FROM c.assessed_through
    RETURNING m.id
),
-- What lapsed since the member's last recorded change, for the rows that record only a
-- lapse: fee terms that ended or were refunded, overrides that expired or were revoked.
ended AS (
    SELECT c.id, x.type, x.ref_id, x.ended
    FROM changed c JOIN updated u ON u.id = c.id
    CROSS JOIN LATERAL (SELECT max(h.at) AS since FROM tier_change h WHERE h.membership_id = c.id) s
    CROSS JOIN LATERAL (
        SELECT 'FeePayment' AS type, f.id AS ref_id, least(f.term_end, coalesce(f.refunded_at, f.term_end)) AS ended
        FROM fee_payment f WHERE f.membership_id = c.id
        UNION ALL
        SELECT 'TierOverride', o.id, least(coalesce(o.expires_at, 'infinity'), coalesce(o.revoked_at, 'infinity'))
        FROM tier_override o WHERE o.membership_id = c.id
    ) x
    WHERE c.reason IS NULL AND x.ended <= :as_of AND (s.since IS NULL OR x.ended > s.since)
),
-- A lapse is dated at its own instant, not at the assessment: the last of those
-- instants at which the tier in force changed (by tier_state_at, just before and at
-- it), which is after the latest history row, so history stays in time order. Per
-- member that changes only: the function per member is what the set-based form above
-- avoids for the whole batch.
lapsed AS (
    SELECT e.id, jsonb_agg(jsonb_build_object('$ref', e.type, 'id', e.ref_id) ORDER BY e.ended, e.type, e.ref_id) AS refs,
           max(e.ended) FILTER (WHERE (SELECT a.effective FROM tier_state_at(e.id, e.ended) a)
                                   <> (SELECT b.effective FROM tier_state_at(e.id, e.ended - interval '1 microsecond') b))
               AS dropped_at
    FROM ended e
    GROUP BY e.id
),
-- A decision that moves the earned tier but not the tier in force (a fee or floor holds
-- it) is recorded as 'earned'; it changes from the tier in force at :as_of. A change of
-- the tier in force alone is a lapse, explained by what lapsed, without the closed
-- window's volume (it decided nothing), at the lapse's instant, from the tier in force
-- just before it (the one last recorded, when no lapse changed the tier).
history AS (
    INSERT INTO tier_change (membership_id, from_rank, to_rank, reason, rule_version_id, window_start, window_end,
                             qualifying_volume, explanation, at, earned_rank, earned_until)
    SELECT c.id,
           CASE WHEN c.reason IS NOT NULL THEN c.now_effective
                WHEN l.dropped_at IS NOT NULL THEN (SELECT b.effective FROM tier_state_at(c.id, l.dropped_at - interval '1 microsecond') b)
                ELSE c.tier_rank END,
           c.new_effective, r.reason, :version,
           CASE WHEN c.reason IS NOT NULL THEN c.w_start END, CASE WHEN c.reason IS NOT NULL THEN c.w_end END,
           CASE WHEN c.reason IS NOT NULL THEN c.volume END,
           CASE WHEN c.reason IS NULL THEN
               jsonb_build_object('rule', 'expired', 'lapsed', coalesce(l.refs, '[]'::jsonb), 'earned_rank', c.new_earned,
                                  'rule_version', jsonb_build_object('$ref', 'RuleVersion', 'id', :version))
           ELSE
               jsonb_build_object('rule', c.reason, 'volume', c.volume::text, 'earned_before', c.earned_rank,
                                  'earned_rank', c.new_earned, 'promoted_rank', c.promoted, 'retained_rank', c.kept,
                                  'retention_threshold', c.keep_threshold::text, 'max_drop', c.max_drop,
                                  'rule_version', jsonb_build_object('$ref', 'RuleVersion', 'id', :version))
           END,
           CASE WHEN c.reason IS NULL THEN coalesce(l.dropped_at, :as_of) ELSE :as_of END, c.new_earned, c.new_until
    FROM changed c JOIN updated u ON u.id = c.id
    LEFT JOIN lapsed l ON l.id = c.id
    CROSS JOIN LATERAL (SELECT CASE WHEN c.reason IS NULL THEN 'expired' WHEN c.new_effective = c.now_effective THEN 'earned'
                                    ELSE c.reason END AS reason) r
    RETURNING id, membership_id, from_rank, to_rank, reason, earned_rank, at, explanation
)
SELECT (SELECT max(id) FROM batch) AS last_id,
       (SELECT jsonb_agg(to_jsonb(h) || jsonb_build_object('account_id', b.account_id) ORDER BY h.id)
        FROM history h JOIN batch b ON b.id = h.membership_id) AS changes, (SELECT count(*) FROM batch) AS members,
       (SELECT count(*) FROM history h JOIN changed c ON c.id = h.membership_id WHERE c.reason = 'promoted') AS promoted,
       (SELECT count(*) FROM history h JOIN changed c ON c.id = h.membership_id WHERE c.reason = 'demoted') AS demoted,
       (SELECT count(*) FROM history h JOIN changed c ON c.id = h.membership_id WHERE c.reason IS NULL) AS expired,
       (SELECT count(*) FROM changed) - (SELECT count(*) FROM updated) AS skipped
"""


MAX_ATTEMPTS = 5  # a member still changing after that is assessed by the next run


@dataclass
class AssessmentRun:
    members: int = 0
    promoted: int = 0
    demoted: int = 0
    expired: int = 0
    batches: int = 0
    retried: int = 0  # members decided again because they changed meanwhile
    at_risk: int = 0  # members told their tier is at risk in the period open at as_of (tiers.risk)
    rule_version_id: int | None = None
    as_of: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


async def version_in_force(session: AsyncSession, programme_id: int, at: datetime) -> int | None:
    return (await session.execute(text(
        "SELECT id FROM rule_version WHERE programme_id = :p AND status = 'published' AND effective_from <= :at "
        "ORDER BY effective_from DESC LIMIT 1"), {"p": programme_id, "at": at})).scalar_one_or_none()


async def assess_batch(session: AsyncSession, programme_id: int, version_id: int, as_of: datetime, *, after: int,
                       batch: int, upto: int = 2**63 - 1, decide: tuple[str, dict[str, Any]] | None = None,
                       rules: Rules | None = None) -> dict[str, Any]:
    """Assesses the next `batch` members with ids in (after, upto], in the caller's
    transaction, and emits the events of the history rows it wrote (one more statement
    per batch); the rows it updates stay locked until that ends. `decide` and `rules`
    (the version's) when the caller has them already (the same for every batch of a run)."""
    decide, parameters = decide or await decision_statement(session, programme_id, version_id)
    row = dict((await session.execute(text(decide + _APPLY), {
        **parameters, "programme": programme_id, "version": version_id, "as_of": as_of, "after": after, "upto": upto,
        "batch": batch,
    })).mappings().one())
    if row["changes"]:
        await emit_all(session, history_emissions(row["changes"], programme_id, rules or await version_rules(session, version_id)))
    return row


async def assess_programme(session_factory: Callable[[], Any], programme_id: int, as_of: datetime, *,
                           batch: int = 5000, jobs: int = 2, progress: Callable[[AssessmentRun], None] | None = None,
                           risk: RiskRule = RiskRule()) -> AssessmentRun:
    """Assesses every member, one short transaction per batch of members (so the locks of
    one batch are held only while it is assessed). The members' id range is cut into
    `jobs` slices assessed at once, each on its own connection: the work is PostgreSQL's,
    and one connection keeps one core busy. Slices lock disjoint rows, so they never wait
    for each other."""
    check = Checker()
    check.aware("as_of", as_of)
    check.integer("batch", batch, 1, 1_000_000)
    check.integer("jobs", jobs, 1, 16)
    check.done()
    async with session_factory() as session:
        programme = await get_row(session, Programme, programme_id)
        if programme is None:
            raise DomainError.one("programme_id", "No programme has this ID.", Code.NOT_FOUND)
        await _refuse_out_of_order(session, programme_id, as_of)
        version_id = await version_in_force(session, programme_id, as_of)
        low, high = (await session.execute(text("SELECT min(id), max(id) FROM membership WHERE programme_id = :p"),
                                           {"p": programme_id})).one()
        # Published versions are never edited: one statement serves every batch.
        statement = await decision_statement(session, programme_id, version_id) if version_id is not None else None
        rules = await version_rules(session, version_id) if version_id is not None else None
    run = AssessmentRun(rule_version_id=version_id, as_of=as_of)
    if version_id is None or low is None:
        return run
    step = -(-(high - low + 1) // jobs)

    async def assess_slice(after: int, upto: int) -> None:
        while True:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                async with session_factory() as session, session.begin():
                    result = await assess_batch(session, programme_id, version_id, as_of, after=after, upto=upto,
                                                batch=batch, decide=statement, rules=rules)
                run.promoted += result["promoted"]
                run.demoted += result["demoted"]
                run.expired += result["expired"]
                # Members changed by another transaction while the batch was decided: the
                # same batch again (those already applied are no longer due).
                if not result["skipped"]:
                    break
                run.retried += result["skipped"]
            if not result["members"]:
                return
            run.members += result["members"]
            run.batches += 1
            after = result["last_id"]
            if progress:
                progress(run)

    async with asyncio.TaskGroup() as group:
        for start in range(low - 1, high, step):
            group.create_task(assess_slice(start, min(start + step, high)))
    run.at_risk = await check_programme(session_factory, programme_id, as_of, risk, batch=batch)
    return run


async def _refuse_out_of_order(session: AsyncSession, programme_id: int, as_of: datetime) -> None:
    """An assessment decides from the members' cached earned state (that of now) and
    appends history at `as_of`, so it must be at most now and at or after every recorded
    change of the programme's members: in the future it would take effect at once; before
    a later row it would be slipped into the past under rows that carry the old earned
    state. Both are refused, changing nothing."""
    now = datetime.now(timezone.utc)
    if as_of > now:
        raise DomainError.one("as_of", f"An assessment cannot be run ahead of time: {as_of.isoformat()} is after now "
                              f"({now.isoformat(timespec='seconds')}).", Code.OUT_OF_RANGE)
    latest = (await session.execute(text(
        "SELECT max(c.at) FROM tier_change c JOIN membership m ON m.id = c.membership_id WHERE m.programme_id = :p"),
        {"p": programme_id})).scalar_one()
    if latest is not None and as_of < latest:
        raise DomainError.one("as_of", f"The members' history has changes up to {latest.isoformat()}; an assessment "
                              "cannot be inserted before them.", Code.OUT_OF_RANGE)


async def decisions(session: AsyncSession, programme_id: int, version_id: int, as_of: datetime) -> list[dict[str, Any]]:
    """Every member's decision without writing anything (previews, and the property test
    that compares the SQL with tiers.engine.assess)."""
    decide, parameters = await decision_statement(session, programme_id, version_id)
    rows = await session.execute(text(decide + """
        SELECT id, reason, new_earned, new_until, volume, w_start, w_end, tier_rank, now_effective, new_effective
        FROM final ORDER BY id"""),
        {**parameters, "programme": programme_id, "version": version_id, "as_of": as_of, "after": 0, "upto": 2**63 - 1,
         "batch": 2_000_000_000})
    return [dict(r) for r in rows.mappings()]
