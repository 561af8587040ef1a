"""Channel conflicts and partners' deal registration."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from crm import conflicts as service
from schema.fields import load_node
from schema.errors import error_codes, error_type

if TYPE_CHECKING:
    from schema.customers import CustomerType
    from schema.opportunities import OpportunityType
    from schema.users import UserType

ConflictErrorCode = error_codes(service.ConflictErrorCode, "deal registration")
ConflictError = error_type("ConflictError", ConflictErrorCode, "deal registration")


@strawberry.type(description="One claim on a customer.")
class ChannelClaim:
    kind: str = strawberry.field(description="referral, registration, registered_deal or direct_deal.")
    since: datetime = strawberry.field(description="When the claim was made.")
    _claim: strawberry.Private[service.Claim]

    @strawberry.field(description="The partner claiming (null for direct sales).")
    async def partner(self, info: Info) -> Annotated["CustomerType", strawberry.lazy("schema.customers")] | None:
        return await load_node(info, "Customer", self._claim.partner_id)

    @strawberry.field(description="The salesperson claiming (direct sales only).")
    async def user(self, info: Info) -> Annotated["UserType", strawberry.lazy("schema.users")] | None:
        return await load_node(info, "User", self._claim.user_id)

    @strawberry.field(description="The deal the claim is about, when it is about one.")
    async def opportunity(self, info: Info) -> Annotated["OpportunityType", strawberry.lazy("schema.opportunities")] | None:
        return await load_node(info, "Opportunity", self._claim.opportunity_id)


@strawberry.type(description="A customer claimed by two or more partners, or by a partner and direct sales.")
class ChannelConflict:
    _customer_id: strawberry.Private[int]
    _now: strawberry.Private[datetime]

    @strawberry.field(description="Every claim on the customer, oldest first (batched for a page).")
    async def claims(self, info: Info) -> list[ChannelClaim]:
        from resolvers.conflicts import ClaimsByCustomerLoader

        claims = await info.context.loader(ClaimsByCustomerLoader, self._now).load(self._customer_id)
        return [ChannelClaim(kind=c.kind, since=c.since, _claim=c) for c in claims]

    @strawberry.field(description="The customer.")
    async def customer(self, info: Info) -> Annotated["CustomerType", strawberry.lazy("schema.customers")] | None:
        return await load_node(info, "Customer", self._customer_id)


@strawberry.type(description="A partner's exclusive claim on a customer.")
class DealRegistration:
    id: strawberry.ID = strawberry.field(description="Global ID.")
    registered_at: datetime = strawberry.field(description="When.")
    expires_at: datetime = strawberry.field(description="Exclusive until then.")


@strawberry.type(description="Result of dealRegister.")
class DealRegistrationPayload:
    registration: DealRegistration | None = strawberry.field(description="The registration; null when refused.")
    errors: list[ConflictError] = strawberry.field(description="Why it was refused.")


