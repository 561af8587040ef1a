"""What a member sees about itself: tier and benefits, progress, quota, history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import Code, DomainError
from models import FeePayment, Membership, Programme, QualifyingEntry, TierChange, TierOverride, TrainingBooking
from tiers.benefits import quota
from tiers.membership import TierState, tier_state, window_rule_of
from tiers.programmes import rules_in_force
from tiers.rules import Rules, TierRule
from tiers.windows import Window, current_window, period_containing


@dataclass(frozen=True)
class MembershipView:
    membership: Membership
    programme: Programme
    at: datetime
    rules: Rules | None
    state: TierState
    tier: TierRule | None
    valid_until: datetime | None
    window: Window
    period: Window
    volume: Decimal
    next_tier: TierRule | None
    amount_to_next: Decimal | None
    amount_to_keep: Decimal | None
    training_granted: int
    training_used: int
    upcoming_bookings: list[TrainingBooking]
    history: list[TierChange]
    fee_payments: list[FeePayment]
    overrides: list[TierOverride]

    @property
    def training_remaining(self) -> int:
        return max(self.training_granted - self.training_used, 0)


async def membership_view(session: AsyncSession, membership: Membership, at: datetime) -> MembershipView:
    programme = await session.get(Programme, membership.programme_id)
    rules = await rules_in_force(session, programme.id, at)
    state = await tier_state(session, membership, at, rules)
    tier = rules.tier(state.effective) if rules else None
    rule = window_rule_of(programme)
    window = current_window(rule, membership.joined_at, at)
    period = period_containing(rule, membership.joined_at, at)
    volume = Decimal((await session.execute(select(func.coalesce(func.sum(QualifyingEntry.amount), 0)).where(
        QualifyingEntry.membership_id == membership.id, QualifyingEntry.occurred_at >= window.start,
        QualifyingEntry.occurred_at <= at))).scalar_one())
    next_tier = next((t for t in (rules.tiers if rules else ()) if t.rank > state.effective), None)
    amount_to_next = max(next_tier.promotion_threshold - volume, Decimal("0.00")) if next_tier else None
    amount_to_keep = max(tier.retention_threshold - volume, Decimal("0.00")) if tier and state.earned == state.effective else None
    fees = list((await session.execute(select(FeePayment).where(FeePayment.membership_id == membership.id)
                                       .order_by(FeePayment.term_start))).scalars())
    valid_until = await _valid_until(session, membership, state, fees, period, at)
    used = await quota(session, membership, programme, at)
    granted = max(used.granted, tier.training_quota if tier else 0)
    bookings = list((await session.execute(select(TrainingBooking).where(
        TrainingBooking.membership_id == membership.id, TrainingBooking.status == "booked", TrainingBooking.session_at > at)
        .order_by(TrainingBooking.session_at))).scalars())
    history = list((await session.execute(select(TierChange).where(TierChange.membership_id == membership.id)
                                          .order_by(TierChange.at, TierChange.id))).scalars())
    overrides = list((await session.execute(select(TierOverride).where(TierOverride.membership_id == membership.id)
                                            .order_by(TierOverride.starts_at, TierOverride.id))).scalars())
    return MembershipView(membership, programme, at, rules, state, tier, valid_until, window, period, volume, next_tier,
                          amount_to_next, amount_to_keep, granted, used.used, bookings, history, fees, overrides)


async def _valid_until(session: AsyncSession, membership: Membership, state: TierState, fees: list[FeePayment],
                       period: Window, at: datetime) -> datetime | None:
    """Until when the tier in force holds without anything more happening: the latest of
    the sources that give it (a fee term's end, an earned tier's hold or the end of the
    period under assessment, a floor's expiry); a lock's expiry when locked."""
    if state.effective == 0:
        return None
    if state.lock is not None:
        return (await session.execute(select(TierOverride.expires_at).where(
            TierOverride.membership_id == membership.id, TierOverride.kind == "lock", TierOverride.revoked_at.is_(None))
            .order_by(TierOverride.starts_at.desc()).limit(1))).scalar_one_or_none()
    ends: list[datetime] = []
    if state.fee >= state.effective:
        ends += [f.term_end for f in fees if f.tier_rank >= state.effective and f.term_start <= at < f.term_end
                 and (f.refunded_at is None or f.refunded_at > at)]
    if state.earned >= state.effective:
        ends.append(max(membership.earned_until or period.end, period.end))
    return max(ends) if ends else None


async def membership_of(session: AsyncSession, account_id: int, programme_id: int | None) -> Membership:
    statement = select(Membership).where(Membership.account_id == account_id)
    if programme_id is not None:
        statement = statement.where(Membership.programme_id == programme_id)
    rows = (await session.execute(statement.order_by(Membership.id))).scalars().all()
    if not rows:
        raise DomainError.one("account_id", "This account is not a member of the programme.", "not_a_member")
    if len(rows) > 1:
        raise DomainError.one("programme_id", "The account is in several programmes; say which.", Code.REQUIRED)
    return rows[0]
