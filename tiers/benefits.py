"""Benefit quotas: training sessions, co-marketing days, ... each granted per benefit
period by the tier in force and used by training bookings or usage records.

One machinery for every benefit (tiers.rules.TierRule.benefits, training included):
remaining = granted - used for the benefit period, never below zero; an upgrade tops up
the difference, a demotion takes nothing back. The benefit period is the programme's
(a membership year by default), never the qualification period: a rolling window's
periods are months, yet its quotas are yearly. Uses of one member are serialised on its
membership row, so concurrent uses can never exceed a quota.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from events.memberships import QuotaExhausted, QuotaGranted, QuotaLow
from events.outbox import Emission, emit_all
from kernel.errors import Code, DomainError
from kernel.references import get_row
from kernel.validation import Checker
from models import BenefitGrant, BenefitUsage, Membership, Programme, TrainingBooking
from tiers.errors import MembershipErrorCode
from tiers.programmes import rules_in_force
from tiers.rules import MAX_QUANTITY, TRAINING, Rules, TierRule
from tiers.windows import Window, benefit_period

__all__ = ["TRAINING", "Quota", "benefit_totals", "book_training", "cancel_booking", "period_of", "quotas_of",
           "top_up", "use_benefit"]


@dataclass(frozen=True)
class Quota:
    code: str
    name: str
    period: Window
    granted: int
    used: int

    @property
    def remaining(self) -> int:
        return max(self.granted - self.used, 0)


def period_of(programme: Programme, joined_at: datetime, at: datetime) -> Window:
    return benefit_period(programme.benefit_period, programme.time_zone, joined_at, at)


def _per_benefit(model: Any, membership_id: Any, period_start: Any, *where: Any) -> tuple[ScalarSelect, ScalarSelect]:
    totals = (select(model.benefit.label("benefit"), func.sum(model.quantity).label("total"))
              .where(model.membership_id == membership_id, model.window_start == period_start, *where)
              .group_by(model.benefit).subquery())
    codes = select(func.array_agg(aggregate_order_by(totals.c.benefit, totals.c.benefit))).scalar_subquery()
    amounts = select(func.array_agg(aggregate_order_by(totals.c.total, totals.c.benefit))).scalar_subquery()
    return codes, amounts


def benefit_totals(membership_id: Any, period_start: Any, at: Any = None) -> tuple[ScalarSelect, ...]:
    """Granted and used units per benefit in the period starting at `period_start`, as four
    scalar subqueries (granted codes, amounts, used codes, amounts: arrays, so the
    membership view reads them in its one statement); `totals_of` pairs them up. With
    `at`, only the uses made at or before it (the figures of a past instant: a use, a
    booking's unit and its return each keep their instant, `used_at`); grants are not
    dated so (the tier in force grants its quota in any case, `quotas_of`)."""
    return (*_per_benefit(BenefitGrant, membership_id, period_start),
            *_per_benefit(BenefitUsage, membership_id, period_start,
                          *([BenefitUsage.used_at <= at] if at is not None else [])))


def totals_of(row: Sequence[Any]) -> tuple[dict[str, int], dict[str, int]]:
    granted_codes, granted, used_codes, used = row
    return (dict(zip(granted_codes or [], map(int, granted or []), strict=True)),
            dict(zip(used_codes or [], map(int, used or []), strict=True)))


def quotas_of(tier: TierRule | None, period: Window, granted: dict[str, int], used: dict[str, int]) -> list[Quota]:
    """Every quota of a member in a period: the tier's benefits in its order (granted at
    least the tier's quantity, which `top_up` writes the first time the period is used),
    then benefits granted earlier in the period that the tier no longer declares (nothing
    is taken back)."""
    declared = tier.benefits if tier else ()
    quotas = [Quota(b.code, b.name, period, max(granted.get(b.code, 0), b.quantity), used.get(b.code, 0))
              for b in declared]
    known = {b.code for b in declared}
    quotas += [Quota(code, code, period, amount, used.get(code, 0))
               for code, amount in sorted(granted.items()) if code not in known]
    return quotas


async def top_up(session: AsyncSession, membership: Membership, at: datetime, rules: Rules, *,
                 rank: int | None = None) -> None:
    """Grants every quota of the tier in force for the benefit period containing `at`, as
    far as earlier grants of the period fall short (an upgrade tops up the difference;
    nothing is ever taken back). `rank`: the tier in force at `at`, when the caller
    knows it (a history row just written); else the one last recorded."""
    tier = rules.tier(membership.tier_rank if rank is None else rank)
    if tier is None:
        return
    programme = await get_row(session, Programme, membership.programme_id)
    period = period_of(programme, membership.joined_at, at)
    granted, used = totals_of((await session.execute(select(*benefit_totals(membership.id, period.start)))).one())
    short = [(b, b.quantity - int(granted.get(b.code, 0))) for b in tier.benefits if b.quantity > granted.get(b.code, 0)]
    session.add_all(BenefitGrant(membership_id=membership.id, benefit=b.code, window_start=period.start,
                                 quantity=missing, tier_rank=tier.rank) for b, missing in short)
    if short:
        await session.flush()
        await emit_all(session, [_quota_event(QuotaGranted, membership, Quota(
            b.code, b.name, period, b.quantity, used.get(b.code, 0)), at, quantity=missing, tier=tier.code)
            for b, missing in short])


def low_mark(granted: int) -> int:
    """Remaining units at or below which a quota is low: a fifth of the grant, at least 1."""
    return max(1, granted // 5)


def _quota_event(kind: type, membership: Membership, quota: Quota, at: datetime, **extra: Any) -> Emission:
    return Emission(kind(membership=membership.id, account=membership.account_id, programme=membership.programme_id,
                         benefit=quota.code, period_start=quota.period.start, period_end=quota.period.end,
                         granted=quota.granted, used=quota.used, remaining=quota.remaining, **extra),
                    membership.id, at, membership.account_id)


async def _used(session: AsyncSession, membership: Membership, before: Quota, quantity: int, at: datetime) -> None:
    """The quota events of a use of `quantity` units: exhausted when it took the quota to
    zero, low when it crossed the low mark (so each is said once per fall)."""
    after = Quota(before.code, before.name, before.period, before.granted, before.used + quantity)
    if after.remaining == 0 < before.remaining:
        await emit_all(session, [_quota_event(QuotaExhausted, membership, after, at)])
    elif 0 < after.remaining <= low_mark(after.granted) < before.remaining:
        await emit_all(session, [_quota_event(QuotaLow, membership, after, at)])


async def _locked_quota(session: AsyncSession, membership_id: int, code: str, at: datetime) -> tuple[Membership, Quota | None]:
    """The member's row, locked (the lock that serialises its uses and its promotions),
    and its quota of `code` now, after topping up; None for a benefit it does not have."""
    membership = await get_row(session, Membership, membership_id, lock=True)
    if membership is None:
        raise DomainError.one("membership_id", "No membership has this ID.", Code.NOT_FOUND)
    programme = await get_row(session, Programme, membership.programme_id)
    rules = await rules_in_force(session, programme.id, at)
    if rules is not None:
        await top_up(session, membership, at, rules)  # a new period starts with its quotas
    period = period_of(programme, membership.joined_at, at)
    granted, used = totals_of((await session.execute(select(*benefit_totals(membership.id, period.start)))).one())
    tier = rules.tier(membership.tier_rank) if rules else None
    return membership, next((q for q in quotas_of(tier, period, granted, used) if q.code == code), None)


def _exhausted(quota: Quota, what: str) -> DomainError:
    return DomainError.one("membership_id", f"No {what} left this period ({quota.used} of {quota.granted} used).",
                           MembershipErrorCode.QUOTA_EXHAUSTED)


async def use_benefit(session: AsyncSession, membership_id: int, *, benefit: str, quantity: int, note: str | None,
                      at: datetime, actor_id: int | None) -> BenefitUsage:
    """Records the use of `quantity` units of a benefit in the current benefit period."""
    check = Checker()
    code = check.text("benefit", benefit, max_len=40, required=True)
    quantity = check.integer("quantity", quantity, 1, MAX_QUANTITY)
    note = check.text("note", note, max_len=500)
    check.done()
    membership, quota = await _locked_quota(session, membership_id, code.lower(), at)
    if quota is None:
        raise DomainError.one("benefit", f"The membership has no benefit {code!r}.", MembershipErrorCode.UNKNOWN_BENEFIT)
    if quantity > quota.remaining:
        raise _exhausted(quota, f"{quantity} units of {quota.name}")
    usage = BenefitUsage(membership_id=membership.id, benefit=quota.code, window_start=quota.period.start,
                         quantity=quantity, note=note, actor_id=actor_id, used_at=at)
    session.add(usage)
    await session.flush()
    await _used(session, membership, quota, quantity, at)
    return usage


async def book_training(session: AsyncSession, membership_id: int, *, title: str, session_at: datetime,
                        at: datetime, actor_id: int | None) -> TrainingBooking:
    check = Checker()
    title = check.text("title", title, max_len=200, required=True)
    check.aware("session_at", session_at)
    check.done()
    if session_at <= at:
        raise DomainError.one("session_at", "Book a session in the future.", Code.INVALID)
    membership, quota = await _locked_quota(session, membership_id, TRAINING, at)
    if quota is None or quota.remaining <= 0:
        raise _exhausted(quota or Quota(TRAINING, TRAINING, Window(at, at), 0, 0), "training sessions")
    booking = TrainingBooking(membership_id=membership.id, title=title, session_at=session_at,
                              window_start=quota.period.start, booked_by_id=actor_id, booked_at=at)
    session.add(booking)
    await session.flush()
    session.add(BenefitUsage(membership_id=membership.id, benefit=TRAINING, window_start=quota.period.start,
                             quantity=1, booking_id=booking.id, actor_id=actor_id, used_at=at))
    await session.flush()
    await _used(session, membership, quota, 1, at)
    return booking


async def cancel_booking(session: AsyncSession, booking_id: int, *, at: datetime) -> TrainingBooking:
    """Cancelling before the session returns the unit to the period it was taken from."""
    booking = await get_row(session, TrainingBooking, booking_id, lock=True)
    if booking is None:
        raise DomainError.one("id", "No booking has this ID.", Code.NOT_FOUND)
    if booking.status == "cancelled":
        raise DomainError.one("id", "This booking is already cancelled.", Code.NO_CHANGE)
    if booking.session_at <= at:
        raise DomainError.one("id", "The session has started; it can no longer be cancelled.", MembershipErrorCode.TOO_LATE)
    booking.status = "cancelled"
    booking.cancelled_at = at
    session.add(BenefitUsage(membership_id=booking.membership_id, benefit=TRAINING, window_start=booking.window_start,
                             quantity=-1, booking_id=booking.id, used_at=at))
    await session.flush()
    return booking
