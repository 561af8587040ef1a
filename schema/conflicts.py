"""Channel conflicts and partners' deal registration."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from crm import conflicts as service
from resolvers import scoping
from resolvers.context import DatabaseLoader
from resolvers.mutations import mutate
from resolvers.ids import decode_id, decode_optional_id
from schema.fields import load_node
from schema.common import gid, list_connection, payload_errors
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection
from schema.errors import error_codes, error_type
from schema.permissions import Managers, Partners, guarded_field, guarded_mutation

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


class ClaimsByCustomerLoader(DatabaseLoader):
    """Loader args: (now,). Keys: customer ids. Values: their claims, oldest first."""

    async def batch_load_fn(self, customer_ids: list[int]) -> list[list[service.Claim]]:
        (now,) = self.args
        async with self.database.read_session() as session:
            found = await service.claims_of(session, list(customer_ids), now)
        return [found[pk] for pk in customer_ids]


@strawberry.type(description="A customer claimed by two or more partners, or by a partner and direct sales.")
class ChannelConflict:
    _customer_id: strawberry.Private[int]
    _now: strawberry.Private[datetime]

    @strawberry.field(description="Every claim on the customer, oldest first (batched for a page).")
    async def claims(self, info: Info) -> list[ChannelClaim]:
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


@strawberry.type
class ConflictQueries:
    @guarded_field(description="Customers claimed by two or more partners, or by a partner and direct sales, with who "
                   f"claimed what and when, by customer. {PAGE_ARGUMENTS_HELP}", permissions=[Managers])
    async def channel_conflicts(self, info: Info, first: int | None = None, after: str | None = None,
                                last: int | None = None, before: str | None = None) -> Connection[ChannelConflict]:
        now = datetime.now(timezone.utc)  # one instant for the page and its claims
        statement, ordering = service.conflicted_customers(now)
        return await list_connection(info, statement, ordering, lambda r: ChannelConflict(_customer_id=r.customer_id, _now=now),
                                     first=first, after=after, last=last, before=before)


@strawberry.type
class ConflictMutations:
    @guarded_mutation(description="Register a deal for the calling partner: exclusivity on the customer (and the deal, "
                      "when given) for the configured number of days (CRM_DEAL_EXCLUSIVITY_DAYS), refused when another "
                      "partner registered the customer first or direct sales works an open deal with it (the error says "
                      "that it is claimed, never by whom). The customer must be one the partner can read (its referred "
                      "customers and those of its deals) and the deal one it registered; any other ID answers NOT_FOUND, "
                      "as an unknown one does.",
                      idempotent=True, permissions=[Partners])
    async def deal_register(self, info: Info, customer_id: strawberry.ID,
                            opportunity_id: strawberry.ID | None = None) -> DealRegistrationPayload:
        context = info.context

        async def action(session):
            customer = decode_id(customer_id, "Customer", "customer_id")
            deal = decode_optional_id(opportunity_id, "Opportunity", "opportunity_id")
            await scoping.require_readable(session, context.principal, "Customer", customer, "customer_id", "customer")
            await scoping.require_readable(session, context.principal, "Opportunity", deal, "opportunity_id", "opportunity")
            return await service.register_deal(session, partner_id=context.principal.account_id, customer_id=customer,
                                               opportunity_id=deal, exclusivity_days=context.deal_exclusivity_days)
        row, errors = await mutate(context, action)
        return DealRegistrationPayload(
            registration=DealRegistration(id=gid("DealRegistration", row.id), registered_at=row.registered_at,
                                          expires_at=row.expires_at) if row else None,
            errors=payload_errors(errors, ConflictError, ConflictErrorCode))
