from __future__ import annotations

import enum
from datetime import datetime

import strawberry
from strawberry.types import Info

from crm import products as service
from models import Product as ProductRow
from resolvers.lists import filter_clause
from resolvers.mutations import mutate
from resolvers.ids import decode_id
from schema.common import Money, MoneyInput, given, payload_errors
from schema.errors import error_codes, error_type
from schema.filters import BooleanFilter, OrderDirection, StringFilter, order_pairs, to_spec
from schema.fields import column, global_id, money, root_connection
from schema.node import NODE_TYPES, Node
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection
from schema.permissions import AnyRole, Managers, guarded_mutation

ProductErrorCode = error_codes(service.ProductErrorCode, "product")
ProductError = error_type("ProductError", ProductErrorCode, "product")


@strawberry.type(name="Product", description="Something that can be ordered, at a list price.")
class ProductType(Node):
    id: strawberry.ID = global_id("Product")
    sku: str = column("sku", description="Stock-keeping unit; unique, case-insensitive.")
    name: str = column("name", description="Name.")
    list_price: Money = money("list_price", description="Price before any discount.")
    active: bool = column("active", description="Whether it can be ordered.")
    archived_at: datetime | None = column("archived_at", description="When it was archived; null while live.")
    created_at: datetime = column("created_at", description="When it was created.")
    _row: strawberry.Private[ProductRow]



NODE_TYPES["Product"] = ProductType.from_row



@strawberry.input(description="Which products to list. Archived ones only when `archived: true`.")
class ProductFilter:
    sku: StringFilter | None = strawberry.field(default=None, description="By SKU.")
    name: StringFilter | None = strawberry.field(default=None, description="By name.")
    active: BooleanFilter | None = strawberry.field(default=None, description="Orderable or not.")
    currency: StringFilter | None = strawberry.field(default=None, description="By price currency.")
    archived: bool | None = strawberry.field(default=None, description="true: archived only; false or absent: live only.")


@strawberry.enum(description="Fields products can be ordered by (the id breaks ties).")
class ProductOrderField(enum.Enum):
    NAME = "name"


@strawberry.input(description="One ordering key.")
class ProductOrder:
    field: ProductOrderField = strawberry.field(description="Field.")
    direction: OrderDirection = strawberry.field(default=OrderDirection.ASC, description="Default ASC.")


@strawberry.input(description="A new product.")
class ProductCreateInput:
    sku: str = strawberry.field(description="Unique SKU, 1 to 64 characters.")
    name: str = strawberry.field(description="Name, 1 to 200 characters.")
    list_price: MoneyInput = strawberry.field(description="List price.")
    active: bool = strawberry.field(default=True, description="Default true.")


@strawberry.input(description="Changes to a product; only the fields sent change. Placed orders keep their prices.")
class ProductUpdateInput:
    sku: str | None = strawberry.field(default=strawberry.UNSET, description="New SKU.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name.")
    list_price: MoneyInput | None = strawberry.field(default=strawberry.UNSET, description="New list price.")
    active: bool | None = strawberry.field(default=strawberry.UNSET, description="Orderable or not.")


@strawberry.type(description="Result of a product mutation.")
class ProductPayload:
    product: ProductType | None = strawberry.field(description="The product; null when errors is not empty.")
    errors: list[ProductError] = strawberry.field(description="Empty on success.")


def _payload(row, errors) -> ProductPayload:
    return ProductPayload(product=ProductType.from_row(row) if row else None,
                          errors=payload_errors(errors, ProductError, ProductErrorCode))


def _values(input_object) -> dict:
    values = given(input_object)
    if "list_price" in values:
        price = values.pop("list_price")
        values["list_price"] = price.amount if price else None
        if price:
            values["currency"] = price.currency
    return values


def products_list(principal, filter: ProductFilter | None = None, order_by: list[ProductOrder] | None = None):
    """The rows and ordering of `products`."""
    spec = to_spec(filter, {})
    condition = filter_clause(spec, service.FILTER_FIELDS, service.FILTER_SPECIAL)
    statement = service.products_statement(condition, include_archived=bool(spec and spec.get("archived")))
    ordering = service.product_ordering(order_pairs(order_by))
    return statement, ordering


@strawberry.type
class ProductQueries:
    products: Connection[ProductType] = root_connection(
        products_list, description=f"Products. {PAGE_ARGUMENTS_HELP}", permissions=[AnyRole])


@strawberry.type
class ProductMutations:
    @guarded_mutation(description="Create a product.", idempotent=True, permissions=[Managers])
    async def product_create(self, info: Info, input: ProductCreateInput) -> ProductPayload:
        return _payload(*await mutate(info.context, lambda s: service.create_product(s, _values(input))))

    @guarded_mutation(description="Change a product.", permissions=[Managers])
    async def product_update(self, info: Info, id: strawberry.ID, input: ProductUpdateInput) -> ProductPayload:
        async def action(session):
            return await service.update_product(session, decode_id(id, "Product", "id"), _values(input))
        return _payload(*await mutate(info.context, action))

    @guarded_mutation(description="Archive a product: it can no longer be ordered; past orders keep it.", permissions=[Managers])
    async def product_archive(self, info: Info, id: strawberry.ID) -> ProductPayload:
        return _payload(*await mutate(info.context, lambda s: service.archive_product(s, decode_id(id, "Product", "id"))))

    @guarded_mutation(description="Restore an archived product.", permissions=[Managers])
    async def product_restore(self, info: Info, id: strawberry.ID) -> ProductPayload:
        return _payload(*await mutate(info.context, lambda s: service.restore_product(s, decode_id(id, "Product", "id"))))
