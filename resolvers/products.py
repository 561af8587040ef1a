"""The products domain's list builders and Query/Mutation bodies; its types are in schema/products.py."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from crm import products as service
from resolvers.lists import filter_clause
from resolvers.mutations import mutate
from resolvers.ids import decode_id
from schema.common import given, payload_errors
from schema.filters import order_pairs, to_spec
from schema.fields import root_connection
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection
from schema.permissions import AnyRole, Managers, guarded_mutation
from schema.products import (
    ProductCreateInput, ProductError, ProductErrorCode, ProductFilter, ProductOrder, ProductPayload, ProductType,
    ProductUpdateInput,
)


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
