"""The conflicts domain's claims loader and Query/Mutation bodies; its types are in schema/conflicts.py."""

from __future__ import annotations

from datetime import datetime, timezone

import strawberry
from strawberry.types import Info

from crm import conflicts as service
from resolvers.context import DatabaseLoader
from resolvers import scoping
from resolvers.mutations import mutate
from resolvers.ids import decode_id, decode_optional_id
from schema.common import gid, list_connection, payload_errors
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection
from schema.permissions import Managers, Partners, guarded_field, guarded_mutation
from schema.conflicts import (
    ChannelConflict, ConflictError, ConflictErrorCode, DealRegistration, DealRegistrationPayload,
)


class ClaimsByCustomerLoader(DatabaseLoader):
    """Loader args: (now,). Keys: customer ids. Values: their claims, oldest first."""

    async def batch_load_fn(self, customer_ids: list[int]) -> list[list[service.Claim]]:
        (now,) = self.args
        async with self.database.read_session() as session:
            found = await service.claims_of(session, list(customer_ids), now)
        return [found[pk] for pk in customer_ids]


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
                      "as an unknown one does. While the partner holds an unexpired registration on the customer, "
                      "registering it again (no deal, or that registration's deal) answers that registration "
                      "unchanged and writes nothing: a re-registration never extends the exclusivity, also under "
                      "concurrent calls; a registration of another deal of the customer expires with it at the latest.",
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
