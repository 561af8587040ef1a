from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from crm.customers import CustomerData, CustomerErrorCode
from models import Customer as CustomerRow
from models import CustomerClassification, CustomerKind, LifecycleStage
from resolvers import customers as resolve
from resolvers.node import to_global_id
from schema.errors import payload_errors
from schema.node import NODE_TYPES, Node
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection
from schema.permissions import IsAuthenticated, guarded_field, guarded_mutation

strawberry.enum(CustomerKind, description="Organisation or person.")
strawberry.enum(
    CustomerClassification, description="Which market a party belongs to (classification)."
)
strawberry.enum(LifecycleStage, description="Where a customer is in its life cycle (layering).")
strawberry.enum(CustomerErrorCode, description="Why a customer mutation refused its input.")


@strawberry.type(name="Customer", description="An organisation or person we sell to, or a partner selling for us.")
class CustomerType(Node):
    name: str = strawberry.field(description="Display name.")
    kind: CustomerKind = strawberry.field(description="Organisation or person.")
    classification: CustomerClassification = strawberry.field(description="Market classification.")
    lifecycle_stage: LifecycleStage = strawberry.field(description="Life-cycle layer.")
    email: str | None = strawberry.field(description="Main email address, lower-cased.")
    phone: str | None = strawberry.field(description="Main phone number as entered.")
    tags: list[str] = strawberry.field(description="Portrait tags, in the order first given.")
    attributes: JSON = strawberry.field(description="Portrait attributes (industry, region, revenue band, ...).")
    created_at: datetime = strawberry.field(description="When the customer was created.")
    updated_at: datetime = strawberry.field(description="When the customer last changed.")

    @classmethod
    def from_row(cls, row: CustomerRow) -> CustomerType:
        return cls(
            id=strawberry.ID(to_global_id("Customer", row.id)),
            name=row.name,
            kind=CustomerKind(row.kind),
            classification=CustomerClassification(row.classification),
            lifecycle_stage=LifecycleStage(row.lifecycle_stage),
            email=row.email,
            phone=row.phone,
            tags=list(row.tags),
            attributes=row.attributes,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


NODE_TYPES["Customer"] = CustomerType.from_row


@strawberry.input(description="A new customer. Only `name` is required.")
class CustomerCreateInput:
    name: str = strawberry.field(description="1 to 200 characters after trimming.")
    kind: CustomerKind = strawberry.field(default=CustomerKind.ORGANISATION, description="Default ORGANISATION.")
    classification: CustomerClassification = strawberry.field(
        default=CustomerClassification.POTENTIAL, description="Default POTENTIAL."
    )
    lifecycle_stage: LifecycleStage = strawberry.field(default=LifecycleStage.LEAD, description="Default LEAD.")
    email: str | None = strawberry.field(default=None, description="An email address; stored lower-cased.")
    phone: str | None = strawberry.field(default=None, description="Digits, spaces, ()-./ and an optional leading +.")
    tags: list[str] = strawberry.field(default_factory=list, description="Up to 50 tags of up to 64 characters; duplicates dropped.")
    attributes: JSON = strawberry.field(
        default_factory=dict, description="A JSON object of up to 50 named text, number, boolean or null values."
    )


@strawberry.type(description="A problem with the input of a customer mutation; nothing was changed.")
class CustomerError:
    field: str | None = strawberry.field(description="The input field at fault, as named in the input; null for the whole input.")
    message: str = strawberry.field(description="What is wrong, for people.")
    code: CustomerErrorCode = strawberry.field(description="What is wrong, for programs.")


@strawberry.type(description="Result of customerCreate: the customer, or errors and no change.")
class CustomerCreatePayload:
    customer: CustomerType | None = strawberry.field(description="The new customer; null when errors is not empty.")
    errors: list[CustomerError] = strawberry.field(description="Empty on success.")


@strawberry.type
class CustomerQueries:
    @guarded_field(
        description=f"Customers, ordered by creation (id). {PAGE_ARGUMENTS_HELP}",
        permissions=[IsAuthenticated],
    )
    async def customers(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[CustomerType]:
        context = info.context
        page = await resolve.customers_page(context, first=first, after=after, last=last, before=before)
        return Connection.from_page(page, CustomerType.from_row, lambda: resolve.customers_count(context))


@strawberry.type
class CustomerMutations:
    @guarded_mutation(description="Create a customer.", permissions=[IsAuthenticated])
    async def customer_create(self, info: Info, input: CustomerCreateInput) -> CustomerCreatePayload:
        data = CustomerData(
            name=input.name,
            kind=input.kind,
            classification=input.classification,
            lifecycle_stage=input.lifecycle_stage,
            email=input.email,
            phone=input.phone,
            tags=list(input.tags),
            attributes=input.attributes,
        )
        customer, errors = await resolve.customer_create(info.context, data)
        return CustomerCreatePayload(
            customer=CustomerType.from_row(customer) if customer else None,
            errors=payload_errors(errors, CustomerError, CustomerErrorCode),
        )
