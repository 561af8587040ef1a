"""What a member sees about itself: tier and benefits, progress, quota, history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, DateTime, Integer, Select, and_, bindparam, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from kernel.errors import Code, DomainError
from models import (FeePayment, Membership, Programme, QualifyingEntry, RuleVersion, TierChange, TierOverride,
                    TrainingBooking)
from models.database import DriverStatement
from tiers.benefits import TRAINING, Quota, benefit_totals, period_of, quotas_of, totals_of
from tiers.instants import TierState
from tiers.membership import window_rule_of
from tiers.programmes import published_rules
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
    benefit_period: Window
    benefits: tuple[Quota, ...]  # training first (tiers.benefits.quotas_of)

    @property
    def training(self) -> Quota:
        return next((q for q in self.benefits if q.code == TRAINING), Quota(TRAINING, TRAINING, self.benefit_period, 0, 0))

    @property
    def training_granted(self) -> int:
        return self.training.granted

    @property
    def training_used(self) -> int:
        return self.training.used

    @property
    def training_remaining(self) -> int:
        return self.training.remaining


@dataclass(frozen=True)
class _Figures:
    """What the view reads at `at`, in one statement."""

    version_id: int | None
    version_published_at: datetime | None
    state: TierState
    earned_until: datetime | None
    lock_expires: datetime | None
    live_fee_ranks: list[int]
    live_fee_ends: list[datetime]
    live_floor_ranks: list[int]
    live_floor_ends: list[datetime | None]
    volume: Decimal
    # benefits: units granted and used per benefit code in the benefit period
    granted: dict[str, int]
    used: dict[str, int]


def _figures_statement() -> Select:
    """The tier in force at `at` and its sources (the SQL function `tier_state_at`, which
    every reader uses), the qualifying volume of the window, the benefit quotas of
    the benefit period (tiers.benefits') and what `_valid_until` needs, as one SELECT over the
    function's row. Built once, with parameters: building it took longer than running it."""
    membership_id, at = bindparam("membership_id", type_=BigInteger), bindparam("at", type_=DateTime(timezone=True))
    state = func.tier_state_at(membership_id, at, literal_column("NULL::integer", Integer)).table_valued(
        "effective", "earned", "fee", "floor", "lock", "version_id", "earned_until", "change_id").alias("state")
    live_fees = and_(FeePayment.membership_id == membership_id, FeePayment.term_start <= at, FeePayment.term_end > at,
                     or_(FeePayment.refunded_at.is_(None), FeePayment.refunded_at > at))
    live_floors = and_(TierOverride.membership_id == membership_id, TierOverride.kind == "floor", TierOverride.starts_at <= at,
                       or_(TierOverride.expires_at.is_(None), TierOverride.expires_at > at),
                       or_(TierOverride.revoked_at.is_(None), TierOverride.revoked_at > at))
    return select(
        state.c.version_id,
        select(RuleVersion.published_at).where(RuleVersion.id == state.c.version_id).scalar_subquery(),
        state.c.effective, state.c.earned, state.c.fee, state.c.floor, state.c.lock,
        state.c.earned_until,
        # the expiry of the lock in force at `at` (the latest live one, as tier_state_at picks it)
        select(TierOverride.expires_at).where(
            TierOverride.membership_id == membership_id, TierOverride.kind == "lock", TierOverride.starts_at <= at,
            or_(TierOverride.expires_at.is_(None), TierOverride.expires_at > at),
            or_(TierOverride.revoked_at.is_(None), TierOverride.revoked_at > at))
        .order_by(TierOverride.starts_at.desc(), TierOverride.id.desc()).limit(1).scalar_subquery(),
        select(func.array_agg(FeePayment.tier_rank)).where(live_fees).scalar_subquery(),
        select(func.array_agg(FeePayment.term_end)).where(live_fees).scalar_subquery(),
        select(func.array_agg(TierOverride.tier_rank)).where(live_floors).scalar_subquery(),
        select(func.array_agg(TierOverride.expires_at)).where(live_floors).scalar_subquery(),
        select(func.coalesce(func.sum(QualifyingEntry.amount), 0)).where(
            QualifyingEntry.membership_id == membership_id,
            QualifyingEntry.occurred_at >= bindparam("window_start", type_=DateTime(timezone=True)),
            QualifyingEntry.occurred_at <= at).scalar_subquery(),
        # benefits: columns 14 to 17 (totals_of in _figures)
        *benefit_totals(membership_id, bindparam("benefit_period_start", type_=DateTime(timezone=True)), at),
    ).select_from(state)


_FIGURES = DriverStatement(_figures_statement())


async def _figures(db: AsyncSession | AsyncConnection, membership: Membership, programme: Programme, at: datetime,
                   window: Window, benefit_period: Window) -> _Figures:
    [row] = await _FIGURES.fetch(db, {
        "membership_id": membership.id, "at": at, "window_start": window.start,
        "benefit_period_start": benefit_period.start})
    version_id, published_at, effective, earned, fee, floor, lock, earned_until, lock_expires, fee_ranks, fee_ends, \
        floor_ranks, floor_ends, volume = row[:14]
    granted, used = totals_of(row[14:18])  # benefits
    return _Figures(version_id, published_at, TierState(effective, earned, fee, floor, lock), earned_until, lock_expires,
                    list(fee_ranks or []), list(fee_ends or []), list(floor_ranks or []), list(floor_ends or []),
                    Decimal(volume), granted, used)


async def membership_view(db: AsyncSession | AsyncConnection, membership: Membership, at: datetime,
                          programme: Programme | None = None) -> MembershipView:
    """One statement (`_figures`; and the programme first unless given, which needs a
    session), and the tiers of the rule version in force the first time this process
    meets that version. The lists (bookings, history, fees, overrides) are read by the
    functions below when asked for."""
    if programme is None:
        programme = await db.get(Programme, membership.programme_id)
    rule = window_rule_of(programme)
    window = current_window(rule, membership.joined_at, at)
    period = period_containing(rule, membership.joined_at, at)
    benefit_period = period_of(programme, membership.joined_at, at)
    figures = await _figures(db, membership, programme, at, window, benefit_period)
    rules = await published_rules(db, figures.version_id, figures.version_published_at) if figures.version_id is not None else None
    state = figures.state
    tier = rules.tier(state.effective) if rules else None
    volume = figures.volume
    next_tier = next((t for t in (rules.tiers if rules else ()) if t.rank > state.effective), None)
    amount_to_next = max(next_tier.promotion_threshold - volume, Decimal("0.00")) if next_tier else None
    amount_to_keep = max(tier.retention_threshold - volume, Decimal("0.00")) if tier and state.earned == state.effective else None
    valid_until = valid_until_of(state, figures, membership, programme, at)
    benefits = tuple(quotas_of(tier, benefit_period, figures.granted, figures.used))
    return MembershipView(membership, programme, at, rules, state, tier, valid_until, window, period, volume, next_tier,
                          amount_to_next, amount_to_keep, benefit_period, benefits)


def valid_until_of(state: TierState, figures: _Figures, membership: Membership, programme: Programme,
                   at: datetime) -> datetime | None:
    """The instant until which the tier in force at `at` is guaranteed by its sources as
    they stood at `at` (nothing more written): the latest end among the sources that give
    that tier - fee terms of that rank or above (their term's end), floors of that rank
    or above (their expiry), the earned tier (`_earned_holds_until`) - or a lock's
    expiry when a lock pins it. None: no tier, or a source without an end (a floor or
    lock without expiry, an earned tier never demoted). In the programme's time zone,
    like the window and period bounds beside it."""
    if state.effective == 0:
        return None
    if state.lock is not None:
        ends: list[datetime | None] = [figures.lock_expires]
    else:
        ends = [end for rank, end in zip(figures.live_fee_ranks, figures.live_fee_ends, strict=True) if rank >= state.effective]
        ends += [end for rank, end in zip(figures.live_floor_ranks, figures.live_floor_ends, strict=True)
                 if rank >= state.effective]
        if state.earned >= state.effective:
            ends.append(_earned_holds_until(membership, programme, figures.earned_until, at))
    if not ends or None in ends:
        return None
    return max(e for e in ends if e is not None).astimezone(ZoneInfo(programme.time_zone))


def _earned_holds_until(membership: Membership, programme: Programme, earned_until: datetime | None,
                        at: datetime) -> datetime | None:
    """The earliest instant an assessment may take the earned tier away: the end (plus
    grace days) of the first period not yet assessed whose end is at or after the tier's
    hold (an assessment demotes only once the hold has run out by the period's end);
    None when the programme never demotes. An assessment recorded after `at` does not
    count for `at` (the periods up to the one containing `at` are taken as assessed, no
    further). Before `at` when that period closed unassessed: the tier is due for
    assessment and holds only until it runs."""
    if programme.demotion_policy == "never":
        return None
    rule = window_rule_of(programme)
    assessed = membership.assessed_through
    if assessed is not None and assessed > at:
        assessed = period_containing(rule, membership.joined_at, at).start
    period = period_containing(rule, membership.joined_at, assessed if assessed is not None else membership.joined_at)
    while earned_until is not None and period.end < earned_until:
        period = period_containing(rule, membership.joined_at, period.end)
    return period.end + timedelta(days=rule.grace_days)


async def upcoming_bookings(session: AsyncSession, membership_id: int, at: datetime) -> list[TrainingBooking]:
    """Sessions after `at` that were booked, and not cancelled, as of `at`."""
    return list((await session.execute(select(TrainingBooking).where(
        TrainingBooking.membership_id == membership_id, TrainingBooking.session_at > at, TrainingBooking.booked_at <= at,
        or_(TrainingBooking.cancelled_at.is_(None), TrainingBooking.cancelled_at > at))
        .order_by(TrainingBooking.session_at))).scalars())


async def history(session: AsyncSession, membership_id: int) -> list[TierChange]:
    return list((await session.execute(select(TierChange).where(TierChange.membership_id == membership_id)
                                       .order_by(TierChange.at, TierChange.id))).scalars())


async def fee_payments(session: AsyncSession, membership_id: int) -> list[FeePayment]:
    return list((await session.execute(select(FeePayment).where(FeePayment.membership_id == membership_id)
                                       .order_by(FeePayment.term_start))).scalars())


async def overrides(session: AsyncSession, membership_id: int) -> list[TierOverride]:
    return list((await session.execute(select(TierOverride).where(TierOverride.membership_id == membership_id)
                                       .order_by(TierOverride.starts_at, TierOverride.id))).scalars())


async def membership_of(session: AsyncSession, account_id: int, programme_id: int | None) -> Membership:
    statement = select(Membership).where(Membership.account_id == account_id)
    if programme_id is not None:
        statement = statement.where(Membership.programme_id == programme_id)
    return _the_one((await session.execute(statement.order_by(Membership.id))).scalars().all())


def _the_one(rows: Sequence[Any]) -> Any:
    if not rows:
        raise DomainError.one("account_id", "This account is not a member of the programme.", "not_a_member")
    if len(rows) > 1:
        raise DomainError.one("programme_id", "The account is in several programmes; say which.", Code.REQUIRED)
    return rows[0]


# Built once (see _figures_statement); columns labelled per table, read as plain rows.
_MEMBERSHIP, _PROGRAMME = Membership.__table__, Programme.__table__
_OF_ANY = (select(*(c.label(f"m_{c.key}") for c in _MEMBERSHIP.c), *(c.label(f"p_{c.key}") for c in _PROGRAMME.c))
           .join_from(_MEMBERSHIP, _PROGRAMME, _PROGRAMME.c.id == _MEMBERSHIP.c.programme_id)
           .where(_MEMBERSHIP.c.account_id == bindparam("account_id", type_=BigInteger)).order_by(_MEMBERSHIP.c.id))
_OF_PROGRAMME = DriverStatement(_OF_ANY.where(_MEMBERSHIP.c.programme_id == bindparam("programme_id", type_=BigInteger)))
_OF_ANY = DriverStatement(_OF_ANY)


async def membership_and_programme_of(connection: AsyncConnection, account_id: int,
                                      programme_id: int | None) -> tuple[Membership, Programme]:
    """The account's membership (of the programme, when the account has several) and its
    programme, in one statement on a Core connection (the ORM's loading was a tenth of a
    partner's tier screen); returned as detached instances, for reading."""
    statement = _OF_PROGRAMME if programme_id is not None else _OF_ANY
    values = _the_one(await statement.fetch(connection, {"account_id": account_id, "programme_id": programme_id}))
    return (Membership(**{c.key: values[f"m_{c.key}"] for c in _MEMBERSHIP.c}),
            Programme(**{c.key: values[f"p_{c.key}"] for c in _PROGRAMME.c}))
