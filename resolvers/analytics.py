"""The analytics domain's Query/Mutation bodies; its types are in schema/analytics.py."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from crm import analytics as service
from kernel.errors import DomainError
from models import OpportunityStage, Programme
from resolvers.errors import ApiError, ErrorCode
from resolvers.ids import from_global_id
from resolvers.lists import count, page, page_arguments
from schema.common import Money, camel
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection, selects
from schema.permissions import Managers, guarded_field
from schema.analytics import (
    ChannelPerformance, Funnel, FunnelStep, NearNextTier, RankedCustomer, RevenueConcentration, RfmReport, RfmRow,
    RfmSegment, RfmSegmentTotal, TierCount, TierDistribution, WeightedPipelineMonth,
)


# Shares are shown to four decimals, rounded half-up like every other figure.
RATIO = Decimal("0.0001")


def _query_error(error: DomainError) -> ApiError:
    first = error.errors[0]
    return ApiError(ErrorCode.BAD_USER_INPUT, first.message, argument=camel(first.field or ""))


@strawberry.type
class AnalyticsQueries:
    @guarded_field(description="Customers ranked by net revenue over [from, to) in one currency: the share of the top "
                   "20%, A/B/C classes at 80% / 95% cumulative share, the smallest number making 80%.",
                   permissions=[Managers])
    async def revenue_concentration(self, info: Info, from_: Annotated[datetime, strawberry.argument(name="from")],
                                    to: datetime, currency: str, top: int = 20) -> RevenueConcentration:
        if not 0 <= top <= 100:
            raise ApiError(ErrorCode.BAD_USER_INPUT, "`top` is 0 to 100.", argument="top")
        async with info.context.database.session() as session:
            try:
                result = await service.revenue_concentration(session, from_, to, currency, limit=top)
            except DomainError as error:
                raise _query_error(error) from None
        c = result.currency
        return RevenueConcentration(
            total_revenue=Money.of(result.total_revenue, c), customers_with_revenue=result.customers_with_revenue,
            top20_count=result.top20_count, top20_share=result.top20_share.quantize(RATIO, ROUND_HALF_UP),
            customers_for_80_percent=result.customers_for_80_percent,
            customers=[RankedCustomer(rank=r.rank, revenue=Money.of(r.revenue, c), share=r.share.quantize(RATIO, ROUND_HALF_UP),
                                      cumulative_share=r.cumulative_share.quantize(RATIO, ROUND_HALF_UP), abc_class=r.abc_class,
                                      _customer_id=r.customer_id) for r in result.customers],
        )

    @guarded_field(description="Members per tier at `asOf` (default now), promotions and demotions since `from`, and the "
                   "members within 10% of the next tier.", permissions=[Managers])
    async def tier_distribution(self, info: Info, programme_id: strawberry.ID,
                                from_: Annotated[datetime, strawberry.argument(name="from")],
                                as_of: datetime | None = None) -> TierDistribution:
        programme = from_global_id(programme_id, expected_type="Programme")[1]
        async with info.context.database.session() as session:
            try:
                result = await service.tier_distribution(session, programme, as_of or datetime.now(timezone.utc), from_)
            except DomainError as error:
                raise _query_error(error) from None
            currency = (await session.get(Programme, programme)).currency
        return TierDistribution(
            members_per_tier=[TierCount(rank=c.rank, members=c.members) for c in result.members_per_tier],
            promotions=result.promotions, demotions=result.demotions,
            near_next_tier=[NearNextTier(rank=n.rank, next_rank=n.next_rank, qualifying_volume=Money.of(n.volume, currency),
                                         amount_to_go=Money.of(n.amount_to_go, currency), _account_id=n.account_id)
                            for n in result.near_next_tier])

    @guarded_field(description="The sales funnel over [from, to), for one owner or channel when given.", permissions=[Managers])
    async def funnel(self, info: Info, from_: Annotated[datetime, strawberry.argument(name="from")], to: datetime,
                     owner_id: strawberry.ID | None = None, channel_id: strawberry.ID | None = None) -> Funnel:
        owner = from_global_id(owner_id, expected_type="User")[1] if owner_id else None
        channel = from_global_id(channel_id, expected_type="Channel")[1] if channel_id else None
        async with info.context.database.session() as session:
            try:
                result = await service.funnel(session, from_, to, owner_id=owner, channel_id=channel)
            except DomainError as error:
                raise _query_error(error) from None
        return Funnel(
            steps=[FunnelStep(stage=OpportunityStage(s.stage), entered=s.entered, advanced=s.advanced,
                              conversion_rate=s.conversion_rate, median_days_in_stage=s.median_days_in_stage) for s in result.steps],
            won=result.won, lost=result.lost,
            weighted_pipeline=[WeightedPipelineMonth(month=m.month, weighted_amount=Money.of(m.weighted, m.currency), deals=m.deals)
                               for m in result.pipeline])

    @guarded_field(description="RFM at `asOf` (default now) over a window of `windowMonths` (default 12) in one "
                   "currency: recency, frequency, monetary, their 1-5 quintile scores and the eight classic segments, with "
                   f"counts and revenue per segment. {PAGE_ARGUMENTS_HELP}", permissions=[Managers])
    async def rfm(self, info: Info, currency: str, as_of: datetime | None = None, window_months: int = 12,
                  segment: RfmSegment | None = None, first: int | None = None, after: str | None = None,
                  last: int | None = None, before: str | None = None) -> RfmReport:
        instant = as_of or datetime.now(timezone.utc)
        try:
            code = service.check_rfm(instant, window_months, currency)
        except DomainError as error:
            raise _query_error(error) from None
        table = service.rfm_statement(instant, window_months, code)
        statement, ordering = service.rfm_rows(table, segment.value if segment else None)
        # The connection is a field of the report, not the field resolved here: fetch its page directly.
        request = page_arguments(ordering, first=first, after=after, last=last, before=before)

        async def segment_totals() -> dict[str, tuple[int, Decimal]]:
            if not selects(info, "segments"):
                return {}
            async with info.context.database.session() as session:
                return await service.rfm_segment_totals(session, table)

        # Each statement scores every customer (about a second on 100,000): on two
        # connections at once, not one after the other.
        totals, fetched = await asyncio.gather(segment_totals(), page(info.context, statement, ordering, request))
        rows = Connection.from_page(fetched, lambda r: RfmRow(
            recency_days=r.recency_days, frequency=r.frequency, monetary=Money.of(r.monetary, code), recency_score=r.r_score,
            frequency_score=r.f_score, monetary_score=r.m_score, segment=RfmSegment(r.segment), _customer_id=r.customer_id),
            lambda: count(info.context, statement))
        return RfmReport(
            segments=[RfmSegmentTotal(segment=s, customers=totals.get(s.value, (0, 0))[0],
                                      revenue=Money.of(totals.get(s.value, (0, Decimal(0)))[1], code)) for s in RfmSegment],
            customers=rows)

    @guarded_field(description="Per channel over [from, to) in one currency: spend, customers acquired, orders, "
                   "revenue, revenue per customer, ROI and cost per acquired customer (null with a note where a "
                   "figure would divide by zero). Spend is pro rata to the exact time a spend record shares "
                   "with [from, to); its days begin at midnight in `timeZone` (default UTC).", permissions=[Managers])
    async def channel_performance(self, info: Info, from_: Annotated[datetime, strawberry.argument(name="from")],
                                  to: datetime, currency: str, time_zone: str = "UTC") -> list[ChannelPerformance]:
        async with info.context.database.session() as session:
            try:
                rows = await service.channel_performance(session, from_, to, currency, time_zone)
            except DomainError as error:
                raise _query_error(error) from None
        c = currency.strip().upper()
        return [ChannelPerformance(
            spend=Money.of(r.spend, c), customers_acquired=r.customers_acquired, orders=r.orders, revenue=Money.of(r.revenue, c),
            revenue_per_customer=Money.of(r.revenue_per_customer, c), roi=r.roi, cost_per_customer=Money.of(r.cost_per_customer, c),
            note=r.note, _channel_id=r.channel_id) for r in rows]
