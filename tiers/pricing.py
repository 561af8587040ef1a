"""The discount a customer's grade tier gives at an instant (used by crm.pricing)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Membership, Programme
from tiers.membership import tier_state
from tiers.programmes import rules_in_force


@dataclass(frozen=True)
class TierDiscount:
    rate: Decimal
    tier_code: str | None
    rule_version_id: int | None


NONE = TierDiscount(Decimal("0.0000"), None, None)


async def tier_discount(session: AsyncSession, customer_id: int, currency: str, at: datetime) -> TierDiscount:
    """The best discount among the customer's memberships of programmes in `currency`,
    from the tier in force at `at` under the rules in force at `at`."""
    best = NONE
    rows = (await session.execute(
        select(Membership, Programme).join(Programme, Programme.id == Membership.programme_id)
        .where(Membership.account_id == customer_id, Programme.currency == currency, Membership.joined_at <= at)
        .order_by(Membership.id)
    )).all()
    for membership, programme in rows:
        rules = await rules_in_force(session, programme.id, at)
        if rules is None:
            continue
        state = await tier_state(session, membership, at, rules)
        tier = rules.tier(state.effective)
        if tier is not None and tier.discount_rate > best.rate:
            best = TierDiscount(tier.discount_rate, tier.code, rules.version_id)
    return best
