"""Analytics in set-based SQL over the live tables (no Python loops over rows).

Net revenue of a customer over a period [from, to): the totals of its orders placed in
the period (cancelled ones excluded) minus the value of returns made in the period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import Code, DomainError
from kernel.references import database_zones
from kernel.validation import Checker

NET_REVENUE = """
    net AS (
        SELECT customer_id, sum(amount) AS revenue FROM (
            SELECT o.customer_id, o.total AS amount FROM sales_order o
            WHERE o.placed_at >= :start AND o.placed_at < :end AND o.status <> 'cancelled' AND o.currency = :currency
            UNION ALL
            SELECT o.customer_id, -r.amount FROM order_return r JOIN sales_order o ON o.id = r.order_id
            WHERE r.returned_at >= :start AND r.returned_at < :end AND o.currency = :currency
        ) movements GROUP BY customer_id
    )
"""


def _check_period(start: datetime, end: datetime, currency: str) -> str:
    check = Checker()
    check.aware("from", start)
    check.aware("to", end)
    currency = check.currency("currency", currency)
    if start and end and start.tzinfo and end.tzinfo and end <= start:
        check.fail("to", "The period ends after it starts.", Code.INVALID)
    check.done()
    return currency


@dataclass(frozen=True)
class RankedCustomer:
    customer_id: int
    rank: int
    revenue: Decimal
    share: Decimal  # of the total positive revenue
    cumulative_share: Decimal
    abc_class: str


@dataclass(frozen=True)
class Concentration:
    currency: str
    total_revenue: Decimal  # sum over customers with positive net revenue
    customers_with_revenue: int
    top20_count: int
    top20_share: Decimal
    customers_for_80_percent: int
    customers: list[RankedCustomer]


CONCENTRATION = "WITH" + NET_REVENUE + """,
ranked AS (
    SELECT customer_id, revenue,
           row_number() OVER (ORDER BY revenue DESC, customer_id) AS rank,
           sum(revenue) FILTER (WHERE revenue > 0) OVER () AS total,
           count(*) FILTER (WHERE revenue > 0) OVER () AS positive,
           coalesce(sum(greatest(revenue, 0)) OVER (ORDER BY revenue DESC, customer_id
                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
    FROM net WHERE revenue <> 0
),
classified AS (
    SELECT customer_id, revenue, rank, total, positive,
           CASE WHEN revenue > 0 THEN revenue / total ELSE 0 END AS share,
           (before + greatest(revenue, 0)) / nullif(total, 0) AS cumulative_share,
           CASE WHEN revenue <= 0 THEN 'C' WHEN before / total < 0.8 THEN 'A' WHEN before / total < 0.95 THEN 'B' ELSE 'C' END AS abc,
           rank <= ceil(positive * 0.2) AND revenue > 0 AS top20
    FROM ranked
),
summary AS (
    SELECT coalesce(max(total), 0) AS total, coalesce(max(positive), 0) AS positive,
           count(*) FILTER (WHERE top20) AS top20_count, coalesce(sum(share) FILTER (WHERE top20), 0) AS top20_share,
           count(*) FILTER (WHERE abc = 'A') AS a_count
    FROM classified
)
-- The summary over every customer, and only the first :limit ranked rows leave the server.
SELECT s.*, c.customer_id, c.revenue, c.rank, c.share, c.cumulative_share, c.abc
FROM summary s LEFT JOIN LATERAL (SELECT * FROM classified ORDER BY rank LIMIT :limit) c ON true
ORDER BY c.rank
"""


async def revenue_concentration(session: AsyncSession, start: datetime, end: datetime, currency: str, *,
                                limit: int = 100) -> Concentration:
    """Customers ranked by net revenue, Pareto and ABC (all computed in the SQL above);
    the `limit` first ranked customers are returned, the figures are over all of them.

    - shares are of the total positive net revenue (a refund-heavy customer's negative
      revenue does not inflate the others' shares);
    - the top 20% are ceil(20% of the customers with positive revenue), ties broken by id;
    - a customer is A while the customers ranked above it hold less than 80%, B below
      95%, C otherwise (so the customer that crosses 80% is A, and the A count is the
      smallest number of customers making 80%); zero or negative revenue is C.
    """
    currency = _check_period(start, end, currency)
    rows = (await session.execute(text(CONCENTRATION), {"start": start, "end": end, "currency": currency,
                                                        "limit": limit})).mappings().all()
    summary = rows[0]
    customers = [RankedCustomer(r["customer_id"], r["rank"], Decimal(r["revenue"]), Decimal(r["share"]),
                                Decimal(r["cumulative_share"] or 0), r["abc"]) for r in rows if r["customer_id"] is not None]
    return Concentration(
        currency=currency, total_revenue=Decimal(summary["total"]), customers_with_revenue=int(summary["positive"]),
        top20_count=int(summary["top20_count"]), top20_share=Decimal(summary["top20_share"]),
        customers_for_80_percent=int(summary["a_count"]), customers=customers,
    )


@dataclass(frozen=True)
class ChannelFigures:
    channel_id: int
    spend: Decimal
    customers_acquired: int
    orders: int
    revenue: Decimal
    revenue_per_customer: Decimal | None
    roi: Decimal | None
    cost_per_customer: Decimal | None
    note: str | None


CHANNELS = "WITH" + NET_REVENUE + """,
spend AS (
    -- A spend record counts pro rata to the time it shares with the period, measured
    -- between exact instants: its days begin at midnight in :tz (so a 23-hour DST day
    -- weighs 23 hours), the period's bounds are the instants asked for.
    SELECT channel_id, sum(amount * extract(epoch FROM least(s_end, :end) - greatest(s_start, :start))
                           / extract(epoch FROM s_end - s_start)) AS spend
    FROM (SELECT channel_id, amount, CAST(period_start AS timestamp) AT TIME ZONE :tz AS s_start,
                 CAST(period_end AS timestamp) AT TIME ZONE :tz AS s_end
          FROM channel_spend WHERE currency = :currency) s
    WHERE s_start < :end AND s_end > :start
    GROUP BY channel_id
),
acquired AS (
    SELECT source_channel_id AS channel_id, count(*) AS customers FROM customer
    WHERE source_channel_id IS NOT NULL AND created_at >= :start AND created_at < :end GROUP BY source_channel_id
),
orders AS (
    SELECT c.source_channel_id AS channel_id, count(*) AS orders FROM sales_order o JOIN customer c ON c.id = o.customer_id
    WHERE o.placed_at >= :start AND o.placed_at < :end AND o.status <> 'cancelled' AND o.currency = :currency
      AND c.source_channel_id IS NOT NULL
    GROUP BY c.source_channel_id
),
revenue AS (
    SELECT c.source_channel_id AS channel_id, sum(n.revenue) AS revenue FROM net n JOIN customer c ON c.id = n.customer_id
    WHERE c.source_channel_id IS NOT NULL GROUP BY c.source_channel_id
),
figures AS (
    SELECT ch.id AS channel_id, round(coalesce(s.spend, 0), 2) AS spend, coalesce(a.customers, 0) AS customers,
           coalesce(o.orders, 0) AS orders, coalesce(r.revenue, 0) AS revenue
    FROM channel ch
    LEFT JOIN spend s ON s.channel_id = ch.id LEFT JOIN acquired a ON a.channel_id = ch.id
    LEFT JOIN orders o ON o.channel_id = ch.id LEFT JOIN revenue r ON r.channel_id = ch.id
)
SELECT f.*, round(revenue / nullif(customers, 0), 2) AS per_customer,
       round((revenue - spend) / nullif(spend, 0), 4) AS roi,
       CASE WHEN spend = 0 THEN NULL ELSE round(spend / nullif(customers, 0), 2) END AS cost_per_customer,
       concat_ws('; ',
           CASE WHEN spend = 0 THEN 'no spend recorded in the period: ROI and cost per customer are undefined' END,
           CASE WHEN customers = 0 THEN 'no customers acquired in the period: per-customer figures are undefined' END
       ) AS note
FROM figures f ORDER BY channel_id
"""


async def channel_performance(session: AsyncSession, start: datetime, end: datetime, currency: str,
                              time_zone: str = "UTC") -> list[ChannelFigures]:
    """Per channel over [from, to): spend (pro rata to the exact time a spend record's
    days, which begin at midnight in `time_zone`, share with [from, to)), customers acquired (created in the period with that source channel),
    orders and net revenue of the channel's customers, revenue per acquired customer,
    ROI = (revenue - spend) / spend, cost per acquired customer; null with the reason in
    `note` where a figure would divide by zero."""
    currency = _check_period(start, end, currency)
    check = Checker()
    check.time_zone("time_zone", time_zone, await database_zones(session), Code.INVALID, "Europe/Berlin")
    check.done()
    params = {"start": start, "end": end, "currency": currency, "tz": time_zone}
    rows = (await session.execute(text(CHANNELS), params)).mappings().all()
    return [ChannelFigures(r["channel_id"], Decimal(r["spend"]), int(r["customers"]), int(r["orders"]), Decimal(r["revenue"]),
                           r["per_customer"], r["roi"], r["cost_per_customer"], r["note"] or None) for r in rows]


@dataclass(frozen=True)
class TierCount:
    rank: int
    members: int


@dataclass(frozen=True)
class NearNextTier:
    membership_id: int
    account_id: int
    rank: int
    next_rank: int
    volume: Decimal
    threshold: Decimal
    amount_to_go: Decimal


@dataclass(frozen=True)
class TierDistribution:
    version_id: int | None
    members_per_tier: list[TierCount]
    promotions: int
    demotions: int
    near_next_tier: list[NearNextTier]


# The tier each member had in force at :as_of: the one function of its history that every
# reader uses (tier_state_at, migration 0008), lapses at their exact instants included.
TIER_AT = """
    tier_at AS (
        SELECT m.id, m.account_id, m.joined_at, s.effective AS rank
        FROM membership m CROSS JOIN LATERAL tier_state_at(m.id, :as_of) s
        WHERE m.programme_id = :programme AND m.joined_at <= :as_of
    )
"""

DISTRIBUTION = "WITH" + TIER_AT + """
SELECT rank, count(*) AS members FROM tier_at GROUP BY rank ORDER BY rank
"""

NEAR = """WITH prog AS (
    SELECT time_zone AS tz, window_kind, coalesce(window_months, 1) AS months,
           (CAST(:as_of AS timestamptz) AT TIME ZONE time_zone) AS ref
    FROM programme WHERE id = :programme
),""" + TIER_AT + """,
windows AS (
    SELECT t.*, CASE p.window_kind
        WHEN 'calendar_year' THEN date_trunc('year', p.ref)
        WHEN 'rolling_months' THEN p.ref - make_interval(months => p.months)
        ELSE a.anchor + make_interval(years => (extract(year FROM p.ref) - extract(year FROM a.anchor))::int
             - CASE WHEN a.anchor + make_interval(years => (extract(year FROM p.ref) - extract(year FROM a.anchor))::int) > p.ref
                    THEN 1 ELSE 0 END)
        END AT TIME ZONE p.tz AS w_start
    FROM tier_at t CROSS JOIN prog p
    CROSS JOIN LATERAL (SELECT date_trunc('day', t.joined_at AT TIME ZONE p.tz) AS anchor) a
),
progress AS (
    SELECT w.*, coalesce((SELECT sum(e.amount) FROM qualifying_entry e WHERE e.membership_id = w.id
                          AND e.occurred_at >= w.w_start AND e.occurred_at <= :as_of), 0) AS volume,
           (SELECT n.rank FROM tier n WHERE n.rule_version_id = :version AND n.rank > w.rank ORDER BY n.rank LIMIT 1) AS next_rank
    FROM windows w
)
SELECT p.id, p.account_id, p.rank, p.next_rank, p.volume, n.promotion_threshold AS threshold,
       n.promotion_threshold - p.volume AS amount_to_go
FROM progress p JOIN tier n ON n.rule_version_id = :version AND n.rank = p.next_rank
WHERE p.volume >= 0.9 * n.promotion_threshold AND p.volume < n.promotion_threshold
ORDER BY amount_to_go, p.id
"""


async def tier_distribution(session: AsyncSession, programme_id: int, as_of: datetime, start: datetime) -> TierDistribution:
    """Members per tier in force at `as_of` (tier_state_at), promotions and demotions in
    [start, as_of), and the members whose qualifying volume in the current window is
    within 10% below the next tier's promotion threshold (the sales team's call list)."""
    check = Checker()
    check.aware("as_of", as_of)
    check.aware("from", start)
    if start and as_of and start.tzinfo and as_of.tzinfo and start >= as_of:
        check.fail("from", "`from` must be before `asOf`.", Code.INVALID)
    check.done()
    from tiers.assessment import version_in_force

    params = {"programme": programme_id, "as_of": as_of}
    counts = [TierCount(r["rank"], r["members"]) for r in (await session.execute(text(DISTRIBUTION), params)).mappings()]
    moves = (await session.execute(text("""
        SELECT count(*) FILTER (WHERE c.reason = 'promoted' AND c.to_rank > c.from_rank) AS promotions,
               count(*) FILTER (WHERE c.reason = 'demoted') AS demotions
        FROM tier_change c JOIN membership m ON m.id = c.membership_id
        WHERE m.programme_id = :programme AND c.at >= :start AND c.at < :as_of"""), {**params, "start": start})).mappings().one()
    version = await version_in_force(session, programme_id, as_of)
    near = [] if version is None else [
        NearNextTier(r["id"], r["account_id"], r["rank"], r["next_rank"], Decimal(r["volume"]), Decimal(r["threshold"]),
                     Decimal(r["amount_to_go"]))
        for r in (await session.execute(text(NEAR), {**params, "version": version})).mappings()]
    return TierDistribution(version, counts, moves["promotions"], moves["demotions"], near)


STAGE_ORDER = ("lead", "qualified", "proposal", "negotiation", "won")


@dataclass(frozen=True)
class FunnelStep:
    stage: str
    entered: int
    advanced: int
    conversion_rate: Decimal | None
    median_days_in_stage: Decimal | None


@dataclass(frozen=True)
class WeightedMonth:
    month: str | None  # YYYY-MM of the expected close; None for deals without a date
    currency: str
    weighted: Decimal
    deals: int


@dataclass(frozen=True)
class Funnel:
    steps: list[FunnelStep]
    won: int
    lost: int
    pipeline: list[WeightedMonth]


FUNNEL = """
WITH deals AS (
    SELECT id FROM opportunity
    WHERE (CAST(:owner AS bigint) IS NULL OR owner_id = :owner) AND (CAST(:channel AS bigint) IS NULL OR channel_id = :channel)
),
stays AS (
    SELECT c.to_stage AS stage, c.changed_at,
           lead(c.changed_at) OVER w AS left_at, lead(c.to_stage) OVER w AS next_stage
    FROM opportunity_stage_change c JOIN deals d ON d.id = c.opportunity_id
    WINDOW w AS (PARTITION BY c.opportunity_id ORDER BY c.changed_at, c.id)
),
ranked AS (
    SELECT s.*, array_position(CAST(:order AS text[]), s.stage) AS rank,
           coalesce(array_position(CAST(:order AS text[]), s.next_stage), 0) AS next_rank
    FROM stays s WHERE s.changed_at >= :start AND s.changed_at < :end
)
SELECT stage, count(*) AS entered,
       count(*) FILTER (WHERE next_rank > rank) AS advanced,
       round(count(*) FILTER (WHERE next_rank > rank)::numeric / nullif(count(*), 0), 4) AS conversion,
       round(CAST(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM left_at - changed_at) / 86400)
             FILTER (WHERE left_at IS NOT NULL) AS numeric), 2) AS median_days
FROM ranked GROUP BY stage
"""

PIPELINE_BY_MONTH = """
SELECT to_char(date_trunc('month', expected_close), 'YYYY-MM') AS month, currency,
       round(sum(amount * probability / 100), 2) AS weighted, count(*) AS deals
FROM opportunity
WHERE stage IN ('lead', 'qualified', 'proposal', 'negotiation')
  AND (CAST(:owner AS bigint) IS NULL OR owner_id = :owner) AND (CAST(:channel AS bigint) IS NULL OR channel_id = :channel)
GROUP BY 1, 2 ORDER BY 1 NULLS LAST, 2
"""


async def funnel(session: AsyncSession, start: datetime, end: datetime, *, owner_id: int | None = None,
                 channel_id: int | None = None) -> Funnel:
    """Per stage over [start, end): deals entering it; of those, how many moved on to a
    later stage (skipping counts; LOST does not); the conversion rate; the median days
    spent in the stage by the stays that have ended. Deals won and lost in the period.
    Weighted open pipeline (amount x probability) by month of expected close."""
    check = Checker()
    check.aware("from", start)
    check.aware("to", end)
    if start and end and start.tzinfo and end.tzinfo and end <= start:
        check.fail("to", "The period ends after it starts.", Code.INVALID)
    check.done()
    params = {"start": start, "end": end, "owner": owner_id, "channel": channel_id, "order": list(STAGE_ORDER)}
    rows = {r["stage"]: r for r in (await session.execute(text(FUNNEL), params)).mappings()}
    steps = [FunnelStep(stage, rows[stage]["entered"] if stage in rows else 0, rows[stage]["advanced"] if stage in rows else 0,
                        rows[stage]["conversion"] if stage in rows else None, rows[stage]["median_days"] if stage in rows else None)
             for stage in STAGE_ORDER[:-1]]
    pipeline = [WeightedMonth(r["month"], r["currency"], Decimal(r["weighted"]), r["deals"])
                for r in (await session.execute(text(PIPELINE_BY_MONTH), params)).mappings()]
    return Funnel(steps, rows["won"]["entered"] if "won" in rows else 0, rows["lost"]["entered"] if "lost" in rows else 0, pipeline)


RFM_SEGMENTS = {
    # (recency high, frequency high, monetary high) -> segment
    (True, True, True): "important_value",
    (True, False, True): "important_develop",
    (False, True, True): "important_retain",
    (False, False, True): "important_recall",
    (True, True, False): "general_value",
    (True, False, False): "general_develop",
    (False, True, False): "general_retain",
    (False, False, False): "general_recall",
}

RFM = """
WITH orders AS (
    -- One pass over the orders for both the last payment and the window's paid orders.
    SELECT customer_id,
           max(paid_at) FILTER (WHERE paid_at <= :as_of) AS last_paid,
           count(*) FILTER (WHERE placed_at >= :start AND placed_at < :as_of) AS orders,
           sum(total) FILTER (WHERE placed_at >= :start AND placed_at < :as_of) AS amount
    FROM sales_order
    WHERE paid_at IS NOT NULL AND currency = :currency AND (paid_at <= :as_of OR (placed_at >= :start AND placed_at < :as_of))
    GROUP BY customer_id
),
paid AS (SELECT customer_id, last_paid FROM orders WHERE last_paid IS NOT NULL),
movements AS (
    SELECT customer_id, orders, amount FROM orders WHERE orders > 0
    UNION ALL
    SELECT o.customer_id, 0, -r.amount FROM order_return r JOIN sales_order o ON o.id = r.order_id
    WHERE r.returned_at >= :start AND r.returned_at < :as_of AND o.currency = :currency
),
windowed AS (SELECT customer_id, sum(orders) AS frequency, sum(amount) AS monetary FROM movements GROUP BY customer_id),
base AS (
    SELECT p.customer_id, floor(extract(epoch FROM CAST(:as_of AS timestamptz) - p.last_paid) / 86400)::int AS recency_days,
           coalesce(w.frequency, 0)::int AS frequency, coalesce(w.monetary, 0)::numeric(14, 2) AS monetary
    FROM paid p LEFT JOIN windowed w ON w.customer_id = p.customer_id
),
scored AS (
    SELECT b.*,
           ceil(5 * cume_dist() OVER (ORDER BY recency_days DESC))::int AS r_score,
           ceil(5 * cume_dist() OVER (ORDER BY frequency))::int AS f_score,
           ceil(5 * cume_dist() OVER (ORDER BY monetary))::int AS m_score
    FROM base b
),
means AS (SELECT avg(r_score) AS r_mean, avg(f_score) AS f_mean, avg(m_score) AS m_mean FROM scored)
SELECT s.customer_id, s.recency_days, s.frequency, s.monetary, s.r_score, s.f_score, s.m_score,
       CASE WHEN s.m_score > m.m_mean THEN 'important_' ELSE 'general_' END
       || CASE WHEN s.r_score > m.r_mean AND s.f_score > m.f_mean THEN 'value'
               WHEN s.r_score > m.r_mean THEN 'develop'
               WHEN s.f_score > m.f_mean THEN 'retain'
               ELSE 'recall' END AS segment
FROM scored s CROSS JOIN means m
"""


def rfm_statement(as_of: datetime, window_months: int, currency: str):
    """The RFM rows as a selectable (so lists page over it with keyset cursors).

    Recency: whole days from the last paid order to `as_of`; frequency: paid orders
    placed in the window [as_of - N months, as_of); monetary: their totals minus returns
    made in the window. Only customers with a paid order by `as_of` are scored.
    Scores 1-5 by quintile: ceil(5 x cume_dist) over the customers, best last (fewest
    days, most orders, most money), so customers with equal values share the score of
    the last of them. A score is "high" when strictly above the mean of that score.
    """
    from sqlalchemy import BigInteger, Integer, Numeric, Text

    start = _months_before(as_of, window_months)
    return text(RFM).bindparams(as_of=as_of, start=start, currency=currency).columns(
        customer_id=BigInteger, recency_days=Integer, frequency=Integer, monetary=Numeric(14, 2), r_score=Integer,
        f_score=Integer, m_score=Integer, segment=Text,
    ).subquery("rfm")


def rfm_rows(rfm, segment: str | None):
    """The scored customers (of one segment when given) and their keyset ordering (by id)."""
    from sqlalchemy import select

    from kernel.pagination import BIGINT_KEY, Ordering, SortKey

    statement = select(rfm)
    if segment is not None:
        statement = statement.where(rfm.c.segment == segment)
    ordering = Ordering(name="rfm", keys=[SortKey(rfm.c.customer_id, **BIGINT_KEY)], values_of=lambda r: (r.customer_id,))
    return statement, ordering


def _months_before(instant: datetime, months: int) -> datetime:
    from tiers.windows import add_months

    return add_months(instant, -months)


def check_rfm(as_of: datetime, window_months: int, currency: str) -> str:
    check = Checker()
    check.aware("as_of", as_of)
    check.integer("window_months", window_months, 1, 120)
    currency = check.currency("currency", currency)
    check.done()
    return currency


async def rfm_segment_totals(session: AsyncSession, rfm) -> dict[str, tuple[int, Decimal]]:
    from sqlalchemy import func, select

    rows = await session.execute(select(rfm.c.segment, func.count(), func.sum(rfm.c.monetary)).group_by(rfm.c.segment))
    return {segment: (count, Decimal(total or 0)) for segment, count, total in rows}
