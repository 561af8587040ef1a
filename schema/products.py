from __future__ import annotations

import enum
from datetime import datetime

import strawberry

from crm import products as service
from models import Product as ProductRow
from schema.common import Money, MoneyInput
from schema.errors import error_codes, error_type
from schema.filters import BooleanFilter, OrderDirection, StringFilter
from schema.fields import column, global_id, money
from schema.node import NODE_TYPES, Node

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


