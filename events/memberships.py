"""Events of memberships and their tiers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from events.catalogue import Ref, event
from models import TierChangeReason


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


@event("tier.entered", aggregate="Membership")
class TierEntered(TierChanged):
    """A fee payment changed the tier in force (joining, renewing or upgrading)."""


@event("tier.promoted", aggregate="Membership")
class TierPromoted(TierChanged):
    """Qualifying volume raised the tier in force."""


@event("tier.demoted", aggregate="Membership")
class TierDemoted(TierChanged):
    """An assessment lowered the earned tier, and with it the tier in force."""


@event("tier.earned", aggregate="Membership")
class TierEarned(TierChanged):
    """The earned tier changed while the tier in force did not (a fee or a floor holds it)."""


@event("tier.overridden", aggregate="Membership")
class TierOverridden(TierChanged):
    """An admin's floor or lock was set or revoked and changed the tier in force."""


@event("tier.expired", aggregate="Membership")
class TierExpired(TierChanged):
    """What held the tier lapsed (a fee term ended, an override expired, the hold ran
    out); the explanation's `lapsed` says what."""


@event("tier.refunded", aggregate="Membership")
class TierRefunded(TierChanged):
    """A refunded fee took away the tier it paid for."""


@event("tier.promotion_undone", aggregate="Membership")
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
