"""Channel conflicts and deal registration.

A claim on a customer is one of: a partner referred it; a partner holds an unexpired
deal registration on it; a partner registered one of its open deals; a salesperson owns
one of its open deals without a registering partner (direct sales). A customer claimed
by two or more partners, or by a partner and direct sales, is a conflict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from events.deals import DealContested, DealRegistered
from events.outbox import Emission, emit_all
from kernel.errors import Code, DomainError, FieldError, domain_codes
from kernel.references import get_row, live, live_partner, lock_key
from models import Customer, DealRegistration, Opportunity

ConflictErrorCode = domain_codes("ConflictErrorCode", "registered_by_another_partner", "owned_by_direct_sales",
                                 "not_a_partner", "mismatched_customer")

OPEN = "('lead', 'qualified', 'proposal', 'negotiation')"

CLAIMS = f"""
WITH claims AS (
    SELECT id AS customer_id, referring_partner_id AS partner_id, NULL::bigint AS user_id, 'referral' AS kind,
           created_at AS since, NULL::bigint AS opportunity_id
    FROM customer WHERE referring_partner_id IS NOT NULL AND archived_at IS NULL
    UNION ALL
    SELECT customer_id, partner_id, NULL, 'registration', registered_at, opportunity_id FROM deal_registration
    WHERE expires_at > :now
    UNION ALL
    SELECT customer_id, registering_partner_id, NULL, 'registered_deal', created_at, id FROM opportunity
    WHERE stage IN {OPEN} AND registering_partner_id IS NOT NULL
    UNION ALL
    SELECT customer_id, NULL, owner_id, 'direct_deal', created_at, id FROM opportunity
    WHERE stage IN {OPEN} AND registering_partner_id IS NULL AND owner_id IS NOT NULL
)
"""

CONFLICTED = CLAIMS + """
SELECT customer_id FROM claims GROUP BY customer_id
HAVING count(DISTINCT partner_id) >= 2 OR (count(DISTINCT partner_id) >= 1 AND count(user_id) >= 1)
"""

# The claim CTE is inlined (referenced once), so the customer filter reaches each branch.
CLAIMS_OF = CLAIMS + """
SELECT customer_id, partner_id, user_id, kind, since, opportunity_id FROM claims
WHERE customer_id = ANY(:customers)
ORDER BY customer_id, since, kind
"""


@dataclass(frozen=True)
class Claim:
    customer_id: int
    partner_id: int | None
    user_id: int | None
    kind: str
    since: datetime
    opportunity_id: int | None


def conflicted_customers(now: datetime):
    """The conflicted customers as a selectable (`customer_id`) and its keyset ordering,
    so the list pages like every other: a customer is conflicted when two or more
    partners claim it, or a partner and direct sales do."""
    from sqlalchemy import BigInteger, select

    from kernel.pagination import BIGINT_KEY, Ordering, SortKey

    conflicted = text(CONFLICTED).bindparams(now=now).columns(customer_id=BigInteger).subquery("conflicted")
    ordering = Ordering(name="conflicts", keys=[SortKey(conflicted.c.customer_id, **BIGINT_KEY)],
                        values_of=lambda r: (r.customer_id,))
    return select(conflicted), ordering


async def claims_of(session: AsyncSession, customer_ids: list[int], now: datetime) -> dict[int, list[Claim]]:
    """Every claim on each of the customers, oldest first (one statement)."""
    rows = await session.execute(text(CLAIMS_OF), {"now": now, "customers": list(customer_ids)})
    grouped: dict[int, list[Claim]] = {customer: [] for customer in customer_ids}
    for row in rows.mappings():
        grouped[row["customer_id"]].append(Claim(**row))
    return grouped


async def register_deal(session: AsyncSession, *, partner_id: int, customer_id: int, opportunity_id: int | None,
                        exclusivity_days: int) -> DealRegistration:
    """A partner's exclusive claim for `exclusivity_days`, refused when another partner
    holds an unexpired registration on the customer, or when direct sales owns an open
    deal of it. The refusal says which kind of claim is in the way, not whose: the
    caller is a partner, who may not read another partner's or direct sales' deals.

    A partner that already holds an unexpired registration on the customer gets it back,
    unchanged and with nothing written, when it names no deal or that registration's deal
    (a retry, or a second salesperson of the partner): re-registering never extends the
    exclusivity (attack report: 8 concurrent calls wrote 8 registrations, each moving
    `expiresAt` later). A registration of another deal of that customer expires with the
    customer's one at the latest."""
    await live_partner(session, partner_id, "partner")
    customer = await live(session, Customer, customer_id, "customer_id", "customer")
    if opportunity_id is not None:
        deal = await get_row(session, Opportunity, opportunity_id, lock=True)
        if deal is None:
            raise DomainError.one("opportunity_id", "No opportunity has this ID.", Code.NOT_FOUND)
        if deal.customer_id != customer.id:
            raise DomainError.one("opportunity_id", "This deal belongs to another customer.", ConflictErrorCode.MISMATCHED_CUSTOMER)
    # Registrations of one customer are decided one at a time.
    await lock_key(session, "deal_registration.customer", str(customer.id))
    now = datetime.now(timezone.utc)  # after the wait: the registrations it decides from are as of now
    held = (await session.execute(select(DealRegistration).where(
        DealRegistration.customer_id == customer.id, DealRegistration.partner_id == partner_id,
        DealRegistration.expires_at > now).order_by(DealRegistration.registered_at, DealRegistration.id).limit(1)
    )).scalar_one_or_none()
    if held is not None and (opportunity_id is None or opportunity_id == held.opportunity_id):
        return held
    errors: list[FieldError] = []
    other = (await session.execute(text(
        "SELECT id FROM deal_registration WHERE customer_id = :c AND partner_id <> :p AND expires_at > :now "
        "ORDER BY registered_at LIMIT 1"), {"c": customer.id, "p": partner_id, "now": now})).scalar_one_or_none()
    if other is not None:
        errors.append(FieldError("customer_id", "Another partner registered this customer first.",
                                 ConflictErrorCode.REGISTERED_BY_ANOTHER_PARTNER))
    direct = (await session.execute(text(
        f"SELECT id FROM opportunity WHERE customer_id = :c AND stage IN {OPEN} AND owner_id IS NOT NULL "
        "AND (registering_partner_id IS NULL OR registering_partner_id <> :p) ORDER BY id LIMIT 1"),
        {"c": customer.id, "p": partner_id})).scalar_one_or_none()
    if direct is not None:
        errors.append(FieldError("customer_id", "Direct sales already works an open deal with this customer.",
                                 ConflictErrorCode.OWNED_BY_DIRECT_SALES))
    if errors:
        raise DomainError(errors)
    expires_at = now + timedelta(days=exclusivity_days)
    if held is not None:  # another deal of a customer the partner holds: no later than that hold
        expires_at = min(expires_at, held.expires_at)
    registration = DealRegistration(partner_id=partner_id, customer_id=customer.id, opportunity_id=opportunity_id,
                                    expires_at=expires_at)
    session.add(registration)
    if opportunity_id is not None:
        deal.registering_partner_id = partner_id
    await session.flush()
    # Claims of others on the customer that a registration does not refuse (a referral,
    # another partner's registered deal) make it a conflict, said at once.
    competing = sorted({c.kind for c in (await claims_of(session, [customer.id], now))[customer.id]
                        if c.partner_id != partner_id})
    of = {"registration": registration.id, "partner": partner_id, "customer": customer.id, "opportunity": opportunity_id}
    await emit_all(session, [
        Emission(DealRegistered(**of, registered_at=registration.registered_at, expires_at=registration.expires_at),
                 registration.id, registration.registered_at, partner_id),
        *([Emission(DealContested(**of, competing=competing, at=registration.registered_at), registration.id,
                    registration.registered_at, partner_id)] if competing else [])])
    return registration
