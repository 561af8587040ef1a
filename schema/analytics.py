"""Analytics for managers: one query per daily question."""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from models import OpportunityStage
from schema import opportunities as _registers_the_stage_enum  # noqa: F401
from schema.fields import load_node
from schema.common import Money
from schema.pagination import Connection


@strawberry.type(description="A customer's place in the revenue ranking.")
class RankedCustomer:
    rank: int = strawberry.field(description="1 = most net revenue (ties by id).")
    revenue: Money = strawberry.field(description="Net revenue in the period (may be negative after refunds).")
    share: Decimal = strawberry.field(description="Share of the total positive net revenue (0 for zero or negative).")
    cumulative_share: Decimal = strawberry.field(description="Share of this and every higher-ranked customer.")
    abc_class: str = strawberry.field(description="A while higher-ranked customers hold under 80%, B under 95%, else C; C for zero or negative revenue.")
    _customer_id: strawberry.Private[int]

    @strawberry.field(description="The customer.")
    async def customer(self, info: Info) -> Annotated["CustomerType", strawberry.lazy("schema.customers")] | None:  # noqa: F821
        return await load_node(info, "Customer", self._customer_id)


@strawberry.type(description="Pareto and ABC analysis of net revenue over a period.")
class RevenueConcentration:
    total_revenue: Money = strawberry.field(description="Sum of the positive net revenues.")
    customers_with_revenue: int = strawberry.field(description="Customers with positive net revenue.")
    top20_count: int = strawberry.field(description="ceil(20% of customersWithRevenue).")
    top20_share: Decimal = strawberry.field(description="Share of the total held by those top customers.")
    customers_for_80_percent: int = strawberry.field(description="The smallest number of customers making 80% (the A class).")
    customers: list[RankedCustomer] = strawberry.field(description="The ranking, best first (as many as `top` asks).")


@strawberry.type(description="What a channel cost and brought over a period.")
class ChannelPerformance:
    spend: Money = strawberry.field(description="Spend, pro rata to the exact time a record shares with the period.")
    customers_acquired: int = strawberry.field(description="Customers created in the period with this source channel.")
    orders: int = strawberry.field(description="Orders placed in the period by customers from the channel.")
    revenue: Money = strawberry.field(description="Their net revenue in the period.")
    revenue_per_customer: Money | None = strawberry.field(description="revenue / customersAcquired; null when none were acquired.")
    roi: Decimal | None = strawberry.field(description="(revenue - spend) / spend; null when nothing was spent.")
    cost_per_customer: Money | None = strawberry.field(description="spend / customersAcquired; null without spend or customers.")
    note: str | None = strawberry.field(description="Why a figure is null.")
    _channel_id: strawberry.Private[int]

    @strawberry.field(description="The channel.")
    async def channel(self, info: Info) -> Annotated["ChannelType", strawberry.lazy("schema.channels")] | None:  # noqa: F821
        return await load_node(info, "Channel", self._channel_id)


@strawberry.type(description="How many members hold a tier.")
class TierCount:
    rank: int = strawberry.field(description="Tier rank (0: no tier).")
    members: int = strawberry.field(description="Members holding it.")


@strawberry.type(description="A member within 10% below the next tier's promotion threshold.")
class NearNextTier:
    rank: int = strawberry.field(description="Tier held now.")
    next_rank: int = strawberry.field(description="The next tier.")
    qualifying_volume: Money = strawberry.field(description="Volume in the current window up to asOf.")
    amount_to_go: Money = strawberry.field(description="What is still to buy for the next tier.")
    _account_id: strawberry.Private[int]

    @strawberry.field(description="The member account.")
    async def account(self, info: Info) -> Annotated["CustomerType", strawberry.lazy("schema.customers")] | None:  # noqa: F821
        return await load_node(info, "Customer", self._account_id)


@strawberry.type(description="The grading overview of a programme.")
class TierDistribution:
    members_per_tier: list[TierCount] = strawberry.field(description="Members per tier in force at asOf (the tier at an instant, lapses included).")
    promotions: int = strawberry.field(description="Promotions (the tier in force rose) in [from, asOf).")
    demotions: int = strawberry.field(description="Demotions in [from, asOf).")
    near_next_tier: list[NearNextTier] = strawberry.field(description="The sales team's call list: closest to the next tier first.")


@strawberry.type(description="One step of the sales funnel over a period.")
class FunnelStep:
    stage: OpportunityStage = strawberry.field(description="The stage.")
    entered: int = strawberry.field(description="Deals entering the stage in the period.")
    advanced: int = strawberry.field(description="Of those, deals that moved on to a later stage (skipping counts; LOST does not).")
    conversion_rate: Decimal | None = strawberry.field(description="advanced / entered; null when none entered.")
    median_days_in_stage: Decimal | None = strawberry.field(description="Median days in the stage of the stays that ended.")


@strawberry.type(description="Weighted open pipeline for one month of expected close and currency.")
class WeightedPipelineMonth:
    month: str | None = strawberry.field(description="YYYY-MM of the expected close; null for deals without a date.")
    weighted_amount: Money = strawberry.field(description="Sum of amount x probability of the open deals.")
    deals: int = strawberry.field(description="How many open deals.")


@strawberry.type(description="The sales funnel over a period.")
class Funnel:
    steps: list[FunnelStep] = strawberry.field(description="LEAD, QUALIFIED, PROPOSAL, NEGOTIATION, in order.")
    won: int = strawberry.field(description="Deals won in the period.")
    lost: int = strawberry.field(description="Deals lost in the period.")
    weighted_pipeline: list[WeightedPipelineMonth] = strawberry.field(description="Open deals by expected close month.")


@strawberry.enum(description="The eight classic RFM segments: important (monetary above its mean) or general, then "
                 "value (recency and frequency above their means), develop (recency only), retain (frequency only), recall (neither).")
class RfmSegment(enum.Enum):
    IMPORTANT_VALUE = "important_value"
    IMPORTANT_DEVELOP = "important_develop"
    IMPORTANT_RETAIN = "important_retain"
    IMPORTANT_RECALL = "important_recall"
    GENERAL_VALUE = "general_value"
    GENERAL_DEVELOP = "general_develop"
    GENERAL_RETAIN = "general_retain"
    GENERAL_RECALL = "general_recall"


@strawberry.type(description="A customer's RFM figures and scores.")
class RfmRow:
    recency_days: int = strawberry.field(description="Whole days since the last paid order.")
    frequency: int = strawberry.field(description="Paid orders placed in the window.")
    monetary: Money = strawberry.field(description="Their net amount (minus returns in the window).")
    recency_score: int = strawberry.field(description="1-5; 5 = most recent quintile.")
    frequency_score: int = strawberry.field(description="1-5; 5 = most frequent quintile.")
    monetary_score: int = strawberry.field(description="1-5; 5 = highest-spending quintile.")
    segment: RfmSegment = strawberry.field(description="The classic segment.")
    _customer_id: strawberry.Private[int]

    @strawberry.field(description="The customer.")
    async def customer(self, info: Info) -> Annotated["CustomerType", strawberry.lazy("schema.customers")] | None:  # noqa: F821
        return await load_node(info, "Customer", self._customer_id)


@strawberry.type(description="Customers and revenue in one RFM segment.")
class RfmSegmentTotal:
    segment: RfmSegment = strawberry.field(description="The segment.")
    customers: int = strawberry.field(description="Customers in it.")
    revenue: Money = strawberry.field(description="Their monetary total in the window.")


@strawberry.type(description="RFM analysis at an instant.")
class RfmReport:
    segments: list[RfmSegmentTotal] = strawberry.field(description="All eight segments, with counts and revenue.")
    customers: Connection[RfmRow] = strawberry.field(description="The scored customers, by customer id (filtered by segment when asked).")


