from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from crm import customers as service
from models import Customer as CustomerRow
from models import CustomerClassification, CustomerKind, LifecycleStage
from resolvers.loaders import CustomerByIdLoader
from resolvers import scoping
from schema.common import nested, nested_connection
from schema.fields import RowObject, column, connection, global_id, to_one
from schema.contacts import Consent, ConsentInput, ContactType, can_contact
from schema.errors import error_codes, error_type
from schema.filters import (
    AttributeFilter, ContactMedium, DateTimeFilter, EnumFilter, IDFilter, OrderDirection, StringFilter, TagsFilter,
)
from schema.node import NODE_TYPES, Node
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection
from schema.permissions import Staff

if TYPE_CHECKING:
    from schema.activities import ActivityType
    from schema.channels import ChannelType
    from schema.opportunities import OpportunityType
    from schema.orders import OrderType
    from schema.segments import SegmentType
    from schema.timeline import TimelineEntry
    from schema.users import UserType

strawberry.enum(CustomerKind, description="Organisation or person.")
strawberry.enum(CustomerClassification, description="Which market a party belongs to (classification).")
strawberry.enum(LifecycleStage, description="Where a customer is in its life cycle (layering).")
CustomerErrorCode = error_codes(service.CustomerErrorCode, "customer")
CustomerError = error_type("CustomerError", CustomerErrorCode, "customer")


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
        "resolvers.customers:customer_contacts", description=f"People at this organisation, by name. {PAGE_ARGUMENTS_HELP}",
        permissions=[Staff])
    opportunities: Connection[Annotated["OpportunityType", strawberry.lazy("schema.opportunities")]] = connection(
        "resolvers.customers:customer_opportunities", description=f"The customer's deals, newest first. {PAGE_ARGUMENTS_HELP}")
    activities: Connection[Annotated["ActivityType", strawberry.lazy("schema.activities")]] = connection(
        "resolvers.customers:customer_activities",
        description="Activities with the customer, newest first, across all staff. Open commitments: "
        f"`filter: {{kind: {{eq: COMMITMENT}}, open: true}}`. {PAGE_ARGUMENTS_HELP}", permissions=[Staff])
    orders: Connection[Annotated["OrderType", strawberry.lazy("schema.orders")]] = connection(
        "resolvers.customers:customer_orders", description=f"The customer's orders, newest first. {PAGE_ARGUMENTS_HELP}")
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
        from resolvers.segments import PrimarySegmentByCustomerLoader
        from schema.segments import SegmentType

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
        from resolvers.timeline import customer_timeline

        return await customer_timeline(info, self._row.id, first=first, after=after, last=last, before=before)


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


