from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import Select, and_
from strawberry.scalars import JSON
from strawberry.types import Info

from crm import activities as activity_service
from crm import contacts as contact_service
from crm import customers as service
from crm import opportunities as opportunity_service
from crm import orders as order_service
from models import Activity, Contact, Customer as CustomerRow
from models import CustomerClassification, CustomerKind, LifecycleStage, Opportunity, Order
from resolvers.lists import filter_clause
from kernel.pagination import Ordering
from resolvers.loaders import CustomerByIdLoader, NestedList
from resolvers import scoping
from resolvers.mutations import mutate
from resolvers.ids import decode_id, decode_optional_id
from schema.common import list_connection, nested, nested_connection, payload_errors
from schema.fields import RowObject, column, connection, global_id, root_by_id, root_connection, to_one
from schema.contacts import Consent, ConsentInput, ContactFilter, ContactType, can_contact, values_with_consent
from schema.errors import error_codes, error_type
from schema.filters import (
    AttributeFilter, ContactMedium, DateTimeFilter, EnumFilter, IDFilter, OrderDirection, StringFilter,
    TagsFilter, order_pairs, to_spec,
)
from schema.node import NODE_TYPES, Node
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection
from schema.permissions import Managers, Staff, StaffOrOwnAccount, StaffOwning, guarded_field, guarded_mutation

if TYPE_CHECKING:
    from schema.activities import ActivityFilter, ActivityType
    from schema.channels import ChannelType
    from schema.opportunities import OpportunityFilter, OpportunityType
    from schema.orders import OrderFilter, OrderType
    from schema.segments import SegmentType
    from schema.timeline import TimelineEntry
    from schema.users import UserType

strawberry.enum(CustomerKind, description="Organisation or person.")
strawberry.enum(CustomerClassification, description="Which market a party belongs to (classification).")
strawberry.enum(LifecycleStage, description="Where a customer is in its life cycle (layering).")
CustomerErrorCode = error_codes(service.CustomerErrorCode, "customer")
CustomerError = error_type("CustomerError", CustomerErrorCode, "customer")

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
    from schema.opportunities import OPPORTUNITY_ID_FILTERS

    spec = to_spec(filter, OPPORTUNITY_ID_FILTERS)
    fields = scoping.visible_filter_fields(opportunity_service.FILTER_FIELDS, OPPORTUNITY_ID_FILTERS, principal)
    condition = filter_clause(spec, fields, opportunity_service.FILTER_SPECIAL)
    condition = and_(condition, scoping.opportunities_scope(principal))
    return nested("customer.opportunities", spec, opportunity_service.opportunities_statement(condition),
                  Opportunity.customer_id, opportunity_service.opportunity_ordering([("created_at", True)]))


def customer_activities(
        principal, filter: Annotated["ActivityFilter", strawberry.lazy("schema.activities")] | None = None,
) -> NestedList:
    from schema.activities import ACTIVITY_ID_FILTERS

    spec = to_spec(filter, ACTIVITY_ID_FILTERS)
    condition = filter_clause(spec, activity_service.FILTER_FIELDS, activity_service.FILTER_SPECIAL)
    return nested("customer.activities", spec, activity_service.activities_statement(condition),
                  Activity.customer_id, activity_service.activity_ordering([]))


def customer_orders(principal, filter: Annotated["OrderFilter", strawberry.lazy("schema.orders")] | None = None) -> NestedList:
    from schema.orders import ORDER_ID_FILTERS

    spec = to_spec(filter, ORDER_ID_FILTERS)
    condition = filter_clause(spec, scoping.visible_filter_fields(order_service.FILTER_FIELDS, ORDER_ID_FILTERS, principal))
    condition = and_(condition, scoping.orders_scope(principal))
    return nested("customer.orders", spec, order_service.orders_statement(condition), Order.customer_id,
                  order_service.order_ordering([]))



@strawberry.type(name="Customer", description="An organisation or person we sell to, or a partner selling for us.")
class CustomerType(Node):
    id: strawberry.ID = global_id("Customer")
    name: str = column("name", description="Display name.")
    kind: CustomerKind = column("kind", description="Organisation or person.")
    classification: CustomerClassification = column("classification", description="Market classification.")
    lifecycle_stage: LifecycleStage = column("lifecycle_stage", description="Life-cycle layer.")
    email: str | None = column("email", description="Main email address, lower-cased.")
    phone: str | None = column("phone", description="Main phone number as entered.")
    tax_id: str | None = column("tax_id", description="Tax or company registration number.")
    tags: list[str] = column("tags", description="Portrait tags, in the order first given.")
    attributes: JSON = column("attributes", description="Portrait attributes (industry, region, revenue band, ...).")
    archived_at: datetime | None = column("archived_at", description="When archived (or merged away); null while live.")
    created_at: datetime = column("created_at", description="When the customer was created.")
    updated_at: datetime = column("updated_at", description="When the customer last changed.")
    owner: Annotated["UserType", strawberry.lazy("schema.users")] | None = to_one(
        "User", "owner_id", description="The user who owns the customer.")
    source_channel: Annotated["ChannelType", strawberry.lazy("schema.channels")] | None = to_one(
        "Channel", "source_channel_id", description="The channel the customer came from.")
    referring_partner: CustomerType | None = to_one(
        "Customer", "referring_partner_id", description="The partner who referred the customer.")
    merged_into: CustomerType | None = to_one(
        "Customer", "merged_into_id", description="The customer this one was merged into, when it was.")
    contacts: Connection[ContactType] = connection(
        customer_contacts, description=f"People at this organisation, by name. {PAGE_ARGUMENTS_HELP}", permissions=[Staff])
    opportunities: Connection[Annotated["OpportunityType", strawberry.lazy("schema.opportunities")]] = connection(
        customer_opportunities, description=f"The customer's deals, newest first. {PAGE_ARGUMENTS_HELP}")
    activities: Connection[Annotated["ActivityType", strawberry.lazy("schema.activities")]] = connection(
        customer_activities, description="Activities with the customer, newest first, across all staff. Open commitments: "
        f"`filter: {{kind: {{eq: COMMITMENT}}, open: true}}`. {PAGE_ARGUMENTS_HELP}", permissions=[Staff])
    orders: Connection[Annotated["OrderType", strawberry.lazy("schema.orders")]] = connection(
        customer_orders, description=f"The customer's orders, newest first. {PAGE_ARGUMENTS_HELP}")
    _row: strawberry.Private[CustomerRow]


    @strawberry.field(description="Opt-outs.")
    def consent(self) -> Consent:
        return Consent.of(self._row)

    @strawberry.field(description="Whether the customer may be contacted (by the medium, when given).")
    def contactable(self, by: ContactMedium | None = None) -> bool:
        return can_contact(self._row, by)

    @strawberry.field(description="The matching segment with the lowest priority number (batched for a page).\n\n"
                      "Requires: role admin, manager, sales.", permission_classes=[Staff])
    async def primary_segment(self, info: Info) -> Annotated["SegmentType", strawberry.lazy("schema.segments")] | None:
        from resolvers.loaders import SegmentByIdLoader
        from schema.segments import PrimarySegmentByCustomerLoader, SegmentType

        segment_id = await info.context.loader(PrimarySegmentByCustomerLoader).load(self._row.id)
        if segment_id is None:
            return None
        return SegmentType.from_row(await info.context.loader(SegmentByIdLoader).load(segment_id))

    @strawberry.field(description=f"Customers this partner referred. {PAGE_ARGUMENTS_HELP}")
    async def referred_customers(self, info: Info, first: int | None = None, after: str | None = None,
                                 last: int | None = None, before: str | None = None) -> Connection[CustomerType]:
        if not scoping.own_account_only(info.context.principal, self._row.id):
            return Connection.count_only(_zero)
        relation = nested("customer.referred", None, service.customers_statement(), CustomerRow.referring_partner_id,
                          service.CUSTOMER_ORDER_BY_ID)
        return await nested_connection(info, relation, self._row.id, CustomerType.from_row,
                                       first=first, after=after, last=last, before=before)

    @strawberry.field(description="Everything that happened to the customer, newest first: activities, deal stage "
                      f"changes, orders, merges. One customer at a time (a detail page). {PAGE_ARGUMENTS_HELP}\n\n"
                      "Requires: role admin, manager, sales.", permission_classes=[Staff])
    async def timeline(self, info: Info, first: int | None = None, after: str | None = None,
                       last: int | None = None, before: str | None = None) -> Connection[Annotated["TimelineEntry", strawberry.lazy("schema.timeline")]]:
        from schema.timeline import TimelineEntry

        statement, ordering = service.timeline(self._row.id)
        return await list_connection(info, statement, ordering, TimelineEntry.from_row,
                                     first=first, after=after, last=last, before=before)


async def _zero() -> int:
    return 0


NODE_TYPES["Customer"] = CustomerType.from_row



@strawberry.input(description="Which customers to list. Fields combine with AND; use and/or/not for more. "
                  "Archived customers only when `archived: true`.")
class CustomerFilter:
    id: IDFilter | None = strawberry.field(default=None, description="By ID.")
    name: StringFilter | None = strawberry.field(default=None, description="By name (ilike uses a trigram index).")
    kind: EnumFilter[CustomerKind] | None = strawberry.field(default=None, description="Organisation or person.")
    classification: EnumFilter[CustomerClassification] | None = strawberry.field(default=None, description="By classification.")
    lifecycle_stage: EnumFilter[LifecycleStage] | None = strawberry.field(default=None, description="By life-cycle layer.")
    email: StringFilter | None = strawberry.field(default=None, description="By email (lower-case).")
    tags: TagsFilter | None = strawberry.field(default=None, description="By portrait tags.")
    attributes: list[AttributeFilter] | None = strawberry.field(default=None, description="By portrait attributes; all must hold.")
    owner: IDFilter | None = strawberry.field(default=None, description="By owner (User IDs).")
    source_channel: IDFilter | None = strawberry.field(default=None, description="By source channel (Channel IDs).")
    referring_partner: IDFilter | None = strawberry.field(default=None, description="By referring partner (Customer IDs).")
    created_at: DateTimeFilter | None = strawberry.field(default=None, description="By creation time.")
    updated_at: DateTimeFilter | None = strawberry.field(default=None, description="By last change.")
    contactable: bool | None = strawberry.field(default=None, description="true: only customers who may be contacted at all (not do-not-contact).")
    contactable_by: ContactMedium | None = strawberry.field(default=None, description="Only customers reachable by this medium: not opted out, with an address.")
    archived: bool | None = strawberry.field(default=None, description="true: archived only; false or absent: live only.")
    and_: list[CustomerFilter] | None = strawberry.field(default=None, name="and", description="All of these.")
    or_: list[CustomerFilter] | None = strawberry.field(default=None, name="or", description="Any of these.")
    not_: CustomerFilter | None = strawberry.field(default=None, name="not", description="Not this.")


@strawberry.enum(description="Fields customers can be ordered by (the id breaks ties); each has an index.")
class CustomerOrderField(enum.Enum):
    NAME = "name"
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    CLASSIFICATION = "classification"
    LIFECYCLE_STAGE = "lifecycle_stage"


@strawberry.input(description="One ordering key.")
class CustomerOrder:
    field: CustomerOrderField = strawberry.field(description="Field.")
    direction: OrderDirection = strawberry.field(default=OrderDirection.ASC, description="Default ASC.")


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


@strawberry.input(description="A new customer. Only `name` is required.")
class CustomerCreateInput:
    name: str = strawberry.field(description="1 to 200 characters after trimming.")
    kind: CustomerKind = strawberry.field(default=CustomerKind.ORGANISATION, description="Default ORGANISATION.")
    classification: CustomerClassification = strawberry.field(default=CustomerClassification.POTENTIAL, description="Default POTENTIAL.")
    lifecycle_stage: LifecycleStage = strawberry.field(default=LifecycleStage.LEAD, description="Default LEAD.")
    email: str | None = strawberry.field(default=None, description="An email address; stored lower-cased.")
    phone: str | None = strawberry.field(default=None, description="Digits, spaces, ()-./ and an optional leading +.")
    tax_id: str | None = strawberry.field(default=None, description="Tax or company number; duplicates are found ignoring case, spaces, dots, dashes.")
    tags: list[str] = strawberry.field(default_factory=list, description="Up to 50 tags of up to 64 characters; duplicates dropped.")
    attributes: JSON = strawberry.field(default_factory=dict, description="A JSON object of up to 50 named text, number, boolean or null values.")
    owner_id: strawberry.ID | None = strawberry.field(default=None, description="Owning user.")
    source_channel_id: strawberry.ID | None = strawberry.field(default=None, description="Channel the customer came from.")
    referring_partner_id: strawberry.ID | None = strawberry.field(default=None, description="Partner (a customer classified PARTNER) who referred it.")
    consent: ConsentInput | None = strawberry.field(default=None, description="Opt-outs; default none.")


@strawberry.input(description="Changes to a customer; only the fields sent change; null clears an optional field.")
class CustomerUpdateInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description="Name.")
    kind: CustomerKind | None = strawberry.field(default=strawberry.UNSET, description="Kind.")
    classification: CustomerClassification | None = strawberry.field(default=strawberry.UNSET, description="Classification.")
    lifecycle_stage: LifecycleStage | None = strawberry.field(default=strawberry.UNSET, description="Life-cycle layer.")
    email: str | None = strawberry.field(default=strawberry.UNSET, description="Email.")
    phone: str | None = strawberry.field(default=strawberry.UNSET, description="Phone.")
    tax_id: str | None = strawberry.field(default=strawberry.UNSET, description="Tax ID.")
    tags: list[str] | None = strawberry.field(default=strawberry.UNSET, description="Replaces the tags.")
    attributes: JSON | None = strawberry.field(default=strawberry.UNSET, description="Replaces the attributes.")
    owner_id: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description="Owning user.")
    source_channel_id: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description="Source channel.")
    referring_partner_id: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description="Referring partner.")
    consent: ConsentInput | None = strawberry.field(default=strawberry.UNSET, description="Opt-outs to change.")


@strawberry.type(description="Result of a customer mutation: the customer, or errors and no change.")
class CustomerPayload:
    customer: CustomerType | None = strawberry.field(description="The customer; null when errors is not empty.")
    errors: list[CustomerError] = strawberry.field(description="Empty on success.")


@strawberry.type(name="CustomerMerge", description="The record of one customer merged into another.")
class CustomerMergeType(Node):
    id: strawberry.ID = global_id("CustomerMerge")
    merged_at: datetime = column("merged_at", description="When.")
    moved: JSON = column("moved", description="How many rows moved, per kind (contacts, opportunities, orders, ...).")
    merged_snapshot: JSON = column("merged_snapshot", description="The merged customer as it was before the merge.")
    _row: strawberry.Private[object]

    survivor: CustomerType = to_one("Customer", "survivor_id", description="The customer that remains.")

    merged: CustomerType = to_one("Customer", "merged_id", description="The customer merged away (now archived).")

    merged_by: Annotated["UserType", strawberry.lazy("schema.users")] | None = to_one(
        "User", "merged_by_id", description="Who merged them.")



NODE_TYPES["CustomerMerge"] = CustomerMergeType.from_row


@strawberry.type(description="Result of customerMerge.")
class CustomerMergePayload:
    customer: CustomerType | None = strawberry.field(description="The surviving customer.")
    merge: CustomerMergeType | None = strawberry.field(description="The audit record.")
    errors: list[CustomerError] = strawberry.field(description="Empty on success.")


@strawberry.enum(description="What duplicates share.")
class DuplicateReason(enum.Enum):
    EMAIL = "email"
    PHONE = "phone"
    TAX_ID = "tax_id"


@strawberry.type(description="Live customers that share a normalised email, phone or tax ID.")
class DuplicateGroup(RowObject):
    reason: DuplicateReason = column("reason", description="What they share.")
    value: str = column("key", description="The shared value, normalised (phone: digits only; tax ID: upper case, no "
                        "separators).")
    _row: strawberry.Private[Any]  # (reason, key, ids) of the duplicate groups' statement

    @strawberry.field(description="The customers, oldest first: merge the others into the first with customerMerge.")
    async def customers(self, info: Info) -> list[CustomerType]:
        rows = await info.context.loader(CustomerByIdLoader).load_many(list(self._row.ids))
        return [CustomerType.from_row(row) for row in rows if row is not None]



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

