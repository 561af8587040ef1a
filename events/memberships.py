"""Events of memberships, their tiers and their benefit quotas. Every one concerns the
member's account (`Emission.account_id` is the membership's account)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from events.catalogue import Ref, event
from models import TierChangeReason

MEMBER = "staff, and the member's partner account"


@dataclass(frozen=True, kw_only=True)
class TierChanged:
    """What every tier event says: a tier_change row of the membership's history."""

    membership: Annotated[int, Ref("Membership")]
    account: Annotated[int, Ref("Customer")]
    programme: Annotated[int, Ref("Programme")]
    change: Annotated[int, Ref("TierChange")]  # the history row
    from_rank: int
    to_rank: int
    from_tier: str | None  # tier codes under the rules in force at `at`; None below every tier
    to_tier: str | None
    earned_rank: int
    at: datetime
    explanation: dict[str, Any]


@event("tier.entered", aggregate="Membership", audience=MEMBER)
class TierEntered(TierChanged):
    """A fee payment changed the tier in force (joining, renewing or upgrading)."""


@event("tier.promoted", aggregate="Membership", audience=MEMBER)
class TierPromoted(TierChanged):
    """Qualifying volume raised the tier in force."""


@event("tier.demoted", aggregate="Membership", audience=MEMBER)
class TierDemoted(TierChanged):
    """An assessment lowered the earned tier, and with it the tier in force."""


@event("tier.earned", aggregate="Membership", audience=MEMBER)
class TierEarned(TierChanged):
    """The earned tier changed while the tier in force did not (a fee or a floor holds it)."""


@event("tier.overridden", aggregate="Membership", audience=MEMBER)
class TierOverridden(TierChanged):
    """An admin's floor or lock was set or revoked and changed the tier in force."""


@event("tier.expired", aggregate="Membership", audience=MEMBER)
class TierExpired(TierChanged):
    """What held the tier lapsed (a fee term ended, an override expired, the hold ran
    out); the explanation's `lapsed` says what."""


@event("tier.refunded", aggregate="Membership", audience=MEMBER)
class TierRefunded(TierChanged):
    """A refunded fee took away the tier it paid for."""


@event("tier.promotion_undone", aggregate="Membership", audience=MEMBER)
class TierPromotionUndone(TierChanged):
    """A return or cancellation took a promotion's window back below its threshold, and
    the promotion it caused was undone."""


# The event type of each reason a history row can have (a test walks TierChangeReason).
TIER_EVENTS: dict[TierChangeReason, type[TierChanged]] = {
    TierChangeReason.FEE_PAID: TierEntered, TierChangeReason.PROMOTED: TierPromoted,
    TierChangeReason.DEMOTED: TierDemoted, TierChangeReason.EARNED: TierEarned,
    TierChangeReason.OVERRIDE: TierOverridden, TierChangeReason.EXPIRED: TierExpired,
    TierChangeReason.REFUND: TierRefunded, TierChangeReason.PROMOTION_UNDONE: TierPromotionUndone,
}


def lapses(from_rank: int, to_rank: int) -> bool:
    """A history row after which the member holds no tier at all: `membership.lapsed` is
    emitted with the row's own tier event (both paths, tiers.membership and the bulk
    assessment, ask this one question)."""
    return from_rank > 0 and to_rank == 0


@dataclass(frozen=True, kw_only=True)
class OfMembership:
    membership: Annotated[int, Ref("Membership")]
    account: Annotated[int, Ref("Customer")]
    programme: Annotated[int, Ref("Programme")]


@event("membership.enrolled", aggregate="Membership", audience=MEMBER)
class MembershipEnrolled(OfMembership):
    """An account joined a programme: its first fee payment created the membership (a
    `membership.fee_paid` and a `tier.entered` follow in the same transaction)."""
    tier: str  # the tier code the fee bought
    joined_at: datetime


@event("membership.fee_paid", aggregate="Membership", audience=MEMBER)
class FeePaid(OfMembership):
    """An entry fee was paid (joining, renewing or upgrading); `credit` is the unexpired
    part of a lower fee that was credited to it."""
    fee_payment: Annotated[int, Ref("FeePayment")]
    tier: str
    amount: Decimal
    credit: Decimal
    currency: str
    term_start: datetime
    term_end: datetime


@event("membership.fee_refunded", aggregate="Membership", audience=MEMBER)
class FeeRefunded(OfMembership):
    """An entry fee was refunded: its term ends at `refundedAt`."""
    fee_payment: Annotated[int, Ref("FeePayment")]
    tier_rank: int
    amount: Decimal
    currency: str
    refunded_at: datetime
    reason: str | None


@event("membership.lapsed", aggregate="Membership", audience=MEMBER)
class MembershipLapsed(OfMembership):
    """The member holds no tier any more: a history row took the tier in force to none
    (a fee term ended or was refunded with nothing earned, an override ended, a
    demotion to no tier). Emitted with that row's tier event (same `change`)."""
    change: Annotated[int, Ref("TierChange")]
    from_rank: int
    from_tier: str | None
    reason: TierChangeReason
    at: datetime


@event("tier.at_risk", aggregate="Membership", audience=MEMBER)
class TierAtRisk(OfMembership):
    """The open window's volume is below the share of the earned tier's retention
    threshold that the check uses, and the period ends within the check's days: the
    member will be demoted at the period's end unless it buys `shortfall` more. At most
    once per member and period (`periodEnd`)."""
    tier: str  # the earned tier at risk
    rank: int
    volume: Decimal
    retention_threshold: Decimal
    shortfall: Decimal  # what keeps the tier: retention threshold less volume
    currency: str
    period_start: datetime
    period_end: datetime
    as_of: datetime


@dataclass(frozen=True, kw_only=True)
class OfQuota(OfMembership):
    benefit: str  # the benefit's code ("training", ...)
    period_start: datetime  # the benefit period (a membership year by default)
    period_end: datetime
    granted: int  # units granted in the period, after this change
    used: int
    remaining: int


@event("quota.granted", aggregate="Membership", audience=MEMBER)
class QuotaGranted(OfQuota):
    """A benefit period's quota was granted, or topped up by an upgrade (`quantity` more
    units)."""
    quantity: int
    tier: str


@event("quota.low", aggregate="Membership", audience=MEMBER)
class QuotaLow(OfQuota):
    """A use left a quota at its low mark or below (at most a fifth of the period's
    grant, and at least one unit: tiers.benefits.low_mark) but not at zero."""


@event("quota.exhausted", aggregate="Membership", audience=MEMBER)
class QuotaExhausted(OfQuota):
    """A use took a quota's remaining units to zero."""
