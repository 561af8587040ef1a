"""Training quota: granted per period by the tier in force, used by bookings.

Remaining = granted - used for the current period, never below zero: an upgrade tops up
the difference, a demotion takes nothing back. Bookings of one member are serialised on
its membership row, so concurrent bookings can never exceed the quota.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import Code, DomainError
from kernel.references import get_row
from kernel.validation import Checker
from models import BenefitGrant, BenefitUsage, Membership, Programme, TrainingBooking
from tiers.errors import MembershipErrorCode
from tiers.membership import TRAINING, top_up, window_rule_of
from tiers.programmes import rules_in_force
from tiers.windows import Window, period_containing


@dataclass(frozen=True)
class Quota:
    period: Window
    granted: int
    used: int

    @property
    def remaining(self) -> int:
        return max(self.granted - self.used, 0)


def training_granted(membership_id: Any, period_start: datetime) -> Select:
    return select(func.coalesce(func.sum(BenefitGrant.quantity), 0)).where(
        BenefitGrant.membership_id == membership_id, BenefitGrant.benefit == TRAINING,
        BenefitGrant.window_start == period_start)


def training_used(membership_id: Any, period_start: datetime) -> Select:
    return select(func.coalesce(func.sum(BenefitUsage.quantity), 0)).where(
        BenefitUsage.membership_id == membership_id, BenefitUsage.benefit == TRAINING,
        BenefitUsage.window_start == period_start)


async def quota(session: AsyncSession, membership: Membership, programme: Programme, at: datetime) -> Quota:
    period = period_containing(window_rule_of(programme), membership.joined_at, at)
    granted = (await session.execute(training_granted(membership.id, period.start))).scalar_one()
    used = (await session.execute(training_used(membership.id, period.start))).scalar_one()
    return Quota(period, int(granted), int(used))


async def book_training(session: AsyncSession, membership_id: int, *, title: str, session_at: datetime,
                        at: datetime, actor_id: int | None) -> TrainingBooking:
    check = Checker()
    title = check.text("title", title, max_len=200, required=True)
    check.aware("session_at", session_at)
    check.done()
    if session_at <= at:
        raise DomainError.one("session_at", "Book a session in the future.", Code.INVALID)
    # The lock that serialises this member's bookings (and its promotions).
    membership = await get_row(session, Membership, membership_id, lock=True)
    if membership is None:
        raise DomainError.one("membership_id", "No membership has this ID.", Code.NOT_FOUND)
    programme = await get_row(session, Programme, membership.programme_id)
    rules = await rules_in_force(session, programme.id, at)
    if rules is not None:
        await top_up(session, membership, at, rules)  # a new period starts with its quota
    current = await quota(session, membership, programme, at)
    if current.remaining <= 0:
        raise DomainError.one("membership_id", f"No training sessions left this period ({current.used} of "
                              f"{current.granted} used).", MembershipErrorCode.QUOTA_EXHAUSTED)
    booking = TrainingBooking(membership_id=membership.id, title=title, session_at=session_at,
                              window_start=current.period.start, booked_by_id=actor_id)
    session.add(booking)
    await session.flush()
    session.add(BenefitUsage(membership_id=membership.id, benefit=TRAINING, window_start=current.period.start,
                             quantity=1, booking_id=booking.id))
    await session.flush()
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
                             quantity=-1, booking_id=booking.id))
    await session.flush()
    return booking
