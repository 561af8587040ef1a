"""The customers domain's list builders and Query/Mutation bodies; its types are in schema/customers.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry
from sqlalchemy import Select, and_
from strawberry.types import Info

from crm import activities as activity_service
from crm import contacts as contact_service
from crm import customers as service
from crm import opportunities as opportunity_service
from crm import orders as order_service
from models import Activity, Contact
from models import Opportunity, Order
from resolvers.lists import filter_clause
from kernel.pagination import Ordering
from resolvers.loaders import CustomerByIdLoader, NestedList
from resolvers import scoping
from resolvers.mutations import mutate
from resolvers.ids import decode_id, decode_optional_id
from schema.common import list_connection, nested, payload_errors
from schema.fields import root_by_id, root_connection
from resolvers.contacts import values_with_consent
from schema.contacts import ContactFilter
from schema.filters import order_pairs, to_spec
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection
from schema.permissions import Managers, Staff, StaffOrOwnAccount, StaffOwning, guarded_field, guarded_mutation
from schema.customers import (
    CustomerCreateInput, CustomerError, CustomerErrorCode, CustomerFilter, CustomerMergePayload, CustomerMergeType,
    CustomerOrder, CustomerPayload, CustomerType, CustomerUpdateInput, DuplicateGroup,
)

if TYPE_CHECKING:
    from schema.activities import ActivityFilter
    from schema.opportunities import OpportunityFilter
    from schema.orders import OrderFilter


# The id-typed filter fields of each list, and the type their IDs must be.
CUSTOMER_ID_FILTERS = {"id": "Customer", "owner": "User", "source_channel": "Channel", "referring_partner": "Customer"}


# A customer's lists (schema/fields.connection).

def customer_contacts(principal, filter: ContactFilter | None = None) -> NestedList:
    spec = to_spec(filter, {"customer": "Customer"})
    condition = filter_clause(spec, contact_service.FILTER_FIELDS, contact_service.FILTER_SPECIAL)
    statement = contact_service.contacts_statement(condition, include_archived=bool(spec and spec.get("archived")))
    return nested("customer.contacts", spec, statement, Contact.customer_id, contact_service.contact_ordering([]))


def customer_opportunities(
        principal, filter: Annotated["OpportunityFilter", strawberry.lazy("schema.opportunities")] | None = None,
) -> NestedList:
    from resolvers.opportunities import OPPORTUNITY_ID_FILTERS

    spec = to_spec(filter, OPPORTUNITY_ID_FILTERS)
    fields = scoping.visible_filter_fields(opportunity_service.FILTER_FIELDS, OPPORTUNITY_ID_FILTERS, principal)
    condition = filter_clause(spec, fields, opportunity_service.FILTER_SPECIAL)
    condition = and_(condition, scoping.opportunities_scope(principal))
    return nested("customer.opportunities", spec, opportunity_service.opportunities_statement(condition),
                  Opportunity.customer_id, opportunity_service.opportunity_ordering([("created_at", True)]))


def customer_activities(
        principal, filter: Annotated["ActivityFilter", strawberry.lazy("schema.activities")] | None = None,
) -> NestedList:
    from resolvers.activities import ACTIVITY_ID_FILTERS

    spec = to_spec(filter, ACTIVITY_ID_FILTERS)
    condition = filter_clause(spec, activity_service.FILTER_FIELDS, activity_service.FILTER_SPECIAL)
    return nested("customer.activities", spec, activity_service.activities_statement(condition),
                  Activity.customer_id, activity_service.activity_ordering([]))


def customer_orders(principal, filter: Annotated["OrderFilter", strawberry.lazy("schema.orders")] | None = None) -> NestedList:
    from resolvers.orders import ORDER_ID_FILTERS

    spec = to_spec(filter, ORDER_ID_FILTERS)
    condition = filter_clause(spec, scoping.visible_filter_fields(order_service.FILTER_FIELDS, ORDER_ID_FILTERS, principal))
    condition = and_(condition, scoping.orders_scope(principal))
    return nested("customer.orders", spec, order_service.orders_statement(condition), Order.customer_id,
                  order_service.order_ordering([]))


def _attributes_spec(spec):
    """`attributes: [AttributeFilter]` becomes the `key` operator of the attributes field."""
    if spec and "attributes" in spec:
        spec["attributes"] = {"key": spec["attributes"]}
    for combinator in ("and", "or"):
        for item in (spec or {}).get(combinator, []):
            _attributes_spec(item)
    if spec and spec.get("not"):
        _attributes_spec(spec["not"])
    return spec


def customer_condition(filter: CustomerFilter | None, principal=None):
    spec = _attributes_spec(to_spec(filter, CUSTOMER_ID_FILTERS))
    fields = scoping.visible_filter_fields(service.FILTER_FIELDS, CUSTOMER_ID_FILTERS, principal)
    return spec, filter_clause(spec, fields, service.FILTER_SPECIAL)


def _customer_values(input_object) -> dict:
    values = values_with_consent(input_object)
    for name, type_name in (("owner_id", "User"), ("source_channel_id", "Channel"), ("referring_partner_id", "Customer")):
        if name in values:
            values[name] = decode_optional_id(values[name], type_name, name)
    return values


def _payload(row, errors) -> CustomerPayload:
    return CustomerPayload(customer=CustomerType.from_row(row) if row else None,
                           errors=payload_errors(errors, CustomerError, CustomerErrorCode))


def customers_list(principal, filter: CustomerFilter | None = None,
                   order_by: list[CustomerOrder] | None = None) -> tuple[Select, Ordering]:
    """The rows and ordering of `customers` (its resolver and the single statement, engine/sql/)."""
    spec, condition = customer_condition(filter, principal)
    condition = and_(condition, scoping.customers_scope(principal))
    statement = service.customers_statement(condition, include_archived=bool(spec and spec.get("archived")))
    return statement, service.customer_ordering(order_pairs(order_by))


@strawberry.type
class CustomerQueries:
    customers: Connection[CustomerType] = root_connection(
        customers_list, description=f"Customers. Default order: by id (creation). {PAGE_ARGUMENTS_HELP}",
        permissions=[StaffOrOwnAccount], prime=CustomerByIdLoader)  # primed: node(id:) and referrals reuse the rows
    customer: CustomerType | None = root_by_id(
        "Customer", description="One customer (archived and merged ones too); null when there is none.",
        permissions=[StaffOrOwnAccount])

    @guarded_field(description=f"Groups of live customers that look like duplicates. {PAGE_ARGUMENTS_HELP}", permissions=[Managers])
    async def customer_duplicates(self, info: Info, first: int | None = None, after: str | None = None,
                                  last: int | None = None, before: str | None = None) -> Connection[DuplicateGroup]:
        statement = service.duplicate_groups_statement()
        return await list_connection(info, statement, service.DUPLICATE_ORDERING, DuplicateGroup.from_row,
                                     first=first, after=after, last=last, before=before)


@strawberry.type
class CustomerMutations:
    @guarded_mutation(description="Create a customer. A normalised email, phone or tax ID that a live customer already "
                      "has is refused with DUPLICATE (relatedId: that customer) unless allowDuplicate is true.",
                      idempotent=True, permissions=[Staff])
    async def customer_create(self, info: Info, input: CustomerCreateInput, allow_duplicate: bool = False) -> CustomerPayload:
        async def action(session):
            values = _customer_values(input)
            return await service.create_customer(session, service.CustomerData(**values), allow_duplicate=allow_duplicate)
        return _payload(*await mutate(info.context, action))

    @guarded_mutation(description="Change a customer; duplicates as in customerCreate.", permissions=[StaffOwning])
    async def customer_update(self, info: Info, id: strawberry.ID, input: CustomerUpdateInput,
                              allow_duplicate: bool = False) -> CustomerPayload:
        async def action(session):
            pk = decode_id(id, "Customer", "id")
            await scoping.require_owner(session, info.context.principal, "customer", pk)
            return await service.update_customer(session, pk, _customer_values(input),
                                                 allow_duplicate=allow_duplicate)
        return _payload(*await mutate(info.context, action))

    @guarded_mutation(description="Archive a customer (soft delete): it leaves lists, its history stays.", permissions=[Managers])
    async def customer_archive(self, info: Info, id: strawberry.ID) -> CustomerPayload:
        return _payload(*await mutate(info.context, lambda s: service.archive_customer(s, decode_id(id, "Customer", "id"))))

    @guarded_mutation(description="Restore an archived customer (not one merged into another).", permissions=[Managers])
    async def customer_restore(self, info: Info, id: strawberry.ID) -> CustomerPayload:
        return _payload(*await mutate(info.context, lambda s: service.restore_customer(s, decode_id(id, "Customer", "id"))))

    @guarded_mutation(description="Merge `fromId` into `intoId`: contacts, deals, activities, orders, referrals and partner "
                      "users move to the survivor, which also takes the contact details it lacks; `fromId` is archived "
                      "and points at the survivor; an audit record keeps what moved. All or nothing.",
                      idempotent=True, permissions=[Managers])
    async def customer_merge(self, info: Info, into_id: strawberry.ID, from_id: strawberry.ID) -> CustomerMergePayload:
        async def action(session):
            into = decode_id(into_id, "Customer", "into_id")
            source = decode_id(from_id, "Customer", "from_id")
            return await service.merge_customers(session, into, source, actor_id=info.context.actor_id)
        result, errors = await mutate(info.context, action)
        survivor, record = result if result else (None, None)
        return CustomerMergePayload(customer=CustomerType.from_row(survivor) if survivor else None,
                                    merge=CustomerMergeType.from_row(record) if record else None,
                                    errors=payload_errors(errors, CustomerError, CustomerErrorCode))
