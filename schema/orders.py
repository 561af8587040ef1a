from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from crm import orders as service
from models import Order as OrderRow
from models import OrderLine, OrderReturn, OrderReturnLine, OrderStatus
from resolvers.loaders import ListByParentLoader
from schema.common import Money, nested
from schema.errors import error_codes, error_type
from schema.filters import DateTimeFilter, EnumFilter, IDFilter, StringFilter
from schema.fields import column, global_id, money, to_one
from schema.node import NODE_TYPES, Node
from schema.products import ProductType

if TYPE_CHECKING:
    from schema.customers import CustomerType
    from schema.users import UserType

strawberry.enum(OrderStatus, description="PLACED -> PAID -> RETURNED (once every unit is back); PLACED -> CANCELLED.")
OrderErrorCode = error_codes(service.OrderErrorCode, "order")
OrderError = error_type("OrderError", OrderErrorCode, "order")

LINES = nested("order.lines", None, service.lines_statement(), OrderLine.order_id, service.LINE_ORDERING)
RETURNS = nested("order.returns", None, service.returns_statement(), OrderReturn.order_id, service.RETURN_ORDERING)
RETURN_LINES = nested("return.lines", None, service.return_lines_statement(), OrderReturnLine.return_id,
                      service.RETURN_LINE_ORDERING)


@strawberry.type(name="OrderLine", description="A product on an order, with the price and discount that applied then.")
class OrderLineType(Node):
    id: strawberry.ID = global_id("OrderLine")
    quantity: int = column("quantity", description="Units ordered.")
    returned_quantity: int = column("returned_quantity", description="Units returned so far.")
    list_unit_price: Money = money("list_unit_price", description="List price per unit when ordered.")
    discount_rate: Decimal = column("discount_rate", description="Discount applied, 0 to 1 (0.2 = 20% off).")
    net_unit_price: Money = money("net_unit_price", description="Price paid per unit, rounded half-up to the cent.")
    line_total: Money = money("line_total", description="quantity x netUnitPrice.")
    tier_code: str | None = column(
        "tier_code", description="The grade tier whose discount applied; null when none did.")
    _row: strawberry.Private[OrderLine]

    product: ProductType = to_one("Product", "product_id", description="The product.")


@strawberry.type(description="Units of one line that came back in a return.")
class OrderReturnLineType:
    quantity: int = column("quantity", description="Units returned.")
    line: OrderLineType = to_one("OrderLine", "order_line_id", description="The order line.")
    _row: strawberry.Private[OrderReturnLine]
    _currency: strawberry.Private[str]  # the return's

    @strawberry.field(description="Refunded value: units x the line's net unit price.")
    def amount(self) -> Money:
        return Money.of(self._row.amount, self._currency)


@strawberry.type(name="OrderReturn", description="Goods that came back, whole order or by line.")
class OrderReturnType(Node):
    id: strawberry.ID = global_id("OrderReturn")
    reason: str | None = column("reason", description="Why.")
    amount: Money = money("amount", description="Total refunded value.")
    returned_at: datetime = column("returned_at", description="When.")
    _row: strawberry.Private[OrderReturn]

    @strawberry.field(description="What came back.")
    async def lines(self, info: Info) -> list[OrderReturnLineType]:
        rows = await info.context.loader(ListByParentLoader, RETURN_LINES).load(self._row.id)
        return [OrderReturnLineType(_row=r, _currency=self._row.currency) for r in rows]

    order: OrderType = to_one("Order", "order_id", description="The order.")


@strawberry.type(name="Order", description="A purchase; lines keep the prices and discount that applied when it was placed.")
class OrderType(Node):
    id: strawberry.ID = global_id("Order")
    status: OrderStatus = column("status", description="Status.")
    total: Money = money("total", description="Sum of line totals (net of discount).")
    returned_total: Money = money("returned_total", description="Value returned so far.")
    net_total: Money = money(lambda row: row.total - row.returned_total, description="total - returnedTotal.")
    source: str = column("source", description="Where the order came from (api, an import's name, ...).")
    external_reference: str | None = column(
        "external_reference", description="The source's reference; unique per source.")
    placed_at: datetime = column("placed_at", description="When placed.")
    paid_at: datetime | None = column("paid_at", description="When paid.")
    cancelled_at: datetime | None = column("cancelled_at", description="When cancelled.")
    _row: strawberry.Private[OrderRow]


    customer: Annotated["CustomerType", strawberry.lazy("schema.customers")] = to_one(
        "Customer", "customer_id", description="The customer.")

    placed_by: Annotated["UserType", strawberry.lazy("schema.users")] | None = to_one(
        "User", "placed_by_id", description="Who placed it.")

    @strawberry.field(description="The lines, in order entered (at most 100).")
    async def lines(self, info: Info) -> list[OrderLineType]:
        rows = await info.context.loader(ListByParentLoader, LINES).load(self._row.id)
        return [OrderLineType.from_row(row) for row in rows]

    @strawberry.field(description="Returns against this order, oldest first.")
    async def returns(self, info: Info) -> list[OrderReturnType]:
        rows = await info.context.loader(ListByParentLoader, RETURNS).load(self._row.id)
        return [OrderReturnType.from_row(row) for row in rows]


NODE_TYPES["Order"] = OrderType.from_row
NODE_TYPES["OrderLine"] = OrderLineType.from_row
NODE_TYPES["OrderReturn"] = OrderReturnType.from_row


@strawberry.input(description="Which orders to list.")
class OrderFilter:
    customer: IDFilter | None = strawberry.field(default=None, description="By customer.")
    status: EnumFilter[OrderStatus] | None = strawberry.field(default=None, description="By status.")
    placed_at: DateTimeFilter | None = strawberry.field(default=None, description="By time placed.")
    source: StringFilter | None = strawberry.field(default=None, description="By source.")
    external_reference: StringFilter | None = strawberry.field(default=None, description="By external reference.")


@strawberry.input(description="A product and quantity to order.")
class OrderLineInput:
    product_id: strawberry.ID = strawberry.field(description="An active product.")
    quantity: int = strawberry.field(description="1 to 1,000,000.")


@strawberry.input(description="An order to place; prices come from the product list prices and the customer's discount.")
class OrderPlaceInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    lines: list[OrderLineInput] = strawberry.field(description="1 to 100 lines, all products in one currency.")
    source: str = strawberry.field(default="api", description="Where the order comes from; with externalReference it makes a replay safe.")
    external_reference: str | None = strawberry.field(default=None, description="The source's reference. Placing the same "
                                                      "source + reference again returns the first order (or DUPLICATE if the contents differ).")
    paid: bool = strawberry.field(default=False, description="Place it as already paid: it counts as qualifying volume at once (an unpaid order counts once orderMarkPaid records its payment).")
    placed_at: datetime | None = strawberry.field(default=None, description="When it was placed, for imports of past "
                                                  "orders (give the UTC offset; not in the future, OUT_OF_RANGE); default now. Prices are those of that instant.")


@strawberry.input(description="Units of one line to return.")
class OrderReturnLineInput:
    line_id: strawberry.ID = strawberry.field(description="An OrderLine of the order.")
    quantity: int = strawberry.field(description="Units, at most what is not yet returned.")


@strawberry.type(description="Result of an order mutation.")
class OrderPayload:
    order: OrderType | None = strawberry.field(description="The order; null when errors is not empty.")
    errors: list[OrderError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="Result of orderReturn.")
class OrderReturnPayload:
    order: OrderType | None = strawberry.field(description="The order after the return.")
    order_return: OrderReturnType | None = strawberry.field(description="The return recorded.")
    errors: list[OrderError] = strawberry.field(description="Empty on success.")


