"""The contacts domain's list builders and Query/Mutation bodies; its types are in schema/contacts.py."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from crm import contacts as service
from resolvers.lists import filter_clause
from resolvers import scoping
from resolvers.mutations import mutate
from resolvers.ids import decode_id
from schema.common import given, payload_errors
from schema.filters import order_pairs, to_spec
from schema.fields import root_connection
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection
from schema.permissions import Managers, Staff, StaffOwning, guarded_mutation
from schema.contacts import (
    ContactCreateInput, ContactError, ContactErrorCode, ContactFilter, ContactOrder, ContactPayload, ContactType,
    ContactUpdateInput,
)


def _payload(row, errors) -> ContactPayload:
    return ContactPayload(contact=ContactType.from_row(row) if row else None,
                          errors=payload_errors(errors, ContactError, ContactErrorCode))


def values_with_consent(input_object, *, skip: tuple[str, ...] = ()) -> dict:
    """An input's fields with its nested `consent` flattened into the flags."""
    values = {k: v for k, v in given(input_object).items() if k not in skip}
    consent = values.pop("consent", None)
    if consent:
        values.update(given(consent))
    return values


CONTACT_ID_FILTERS = {"customer": "Customer"}


def contacts_list(principal, filter: ContactFilter | None = None, order_by: list[ContactOrder] | None = None):
    """The rows and ordering of `contacts`."""
    spec = to_spec(filter, CONTACT_ID_FILTERS)
    condition = filter_clause(spec, service.FILTER_FIELDS, service.FILTER_SPECIAL)
    statement = service.contacts_statement(condition, include_archived=bool(spec and spec.get("archived")))
    ordering = service.contact_ordering(order_pairs(order_by))
    return statement, ordering


@strawberry.type
class ContactQueries:
    contacts: Connection[ContactType] = root_connection(
        contacts_list, description=f"Contacts. {PAGE_ARGUMENTS_HELP}", permissions=[Staff])


@strawberry.type
class ContactMutations:
    @guarded_mutation(description="Add a contact to an organisation customer.", idempotent=True, permissions=[StaffOwning])
    async def contact_create(self, info: Info, input: ContactCreateInput) -> ContactPayload:
        async def action(session):
            customer_id = decode_id(input.customer_id, "Customer", "customer_id")
            await scoping.require_owner(session, info.context.principal, "customer", customer_id)
            return await service.create_contact(session, customer_id, values_with_consent(input, skip=("customer_id",)))
        return _payload(*await mutate(info.context, action))

    @guarded_mutation(description="Change a contact.", permissions=[StaffOwning])
    async def contact_update(self, info: Info, id: strawberry.ID, input: ContactUpdateInput) -> ContactPayload:
        async def action(session):
            pk = decode_id(id, "Contact", "id")
            await scoping.require_owner(session, info.context.principal, "contact", pk)
            return await service.update_contact(session, pk, values_with_consent(input))
        return _payload(*await mutate(info.context, action))

    @guarded_mutation(description="Archive a contact.", permissions=[Managers])
    async def contact_archive(self, info: Info, id: strawberry.ID) -> ContactPayload:
        return _payload(*await mutate(info.context, lambda s: service.archive_contact(s, decode_id(id, "Contact", "id"))))

    @guarded_mutation(description="Restore an archived contact.", permissions=[Managers])
    async def contact_restore(self, info: Info, id: strawberry.ID) -> ContactPayload:
        return _payload(*await mutate(info.context, lambda s: service.restore_contact(s, decode_id(id, "Contact", "id"))))
