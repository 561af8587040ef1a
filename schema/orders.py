from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from sqlalchemy import and_
from strawberry.types import Info

from crm import orders as service
from models import Order as OrderRow
from models import OrderLine, OrderReturn, OrderReturnLine, OrderStatus
from resolvers.lists import filter_clause
from resolvers.loaders import ListByParentLoader, OrderByIdLoader, OrderLineByIdLoader
from resolvers import scoping, sql_json
from resolvers.mutations import mutate
from resolvers.node import decode_id
from schema.common import list_connection, Money, gid, nested, payload_errors
from schema.errors import error_codes, error_type
from schema.filters import DateTimeFilter, EnumFilter, IDFilter, StringFilter, to_spec
from schema.node import NODE_TYPES, Node
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection
from schema.permissions import Managers, StaffOrOwnAccount, StaffOwning, guarded_field, guarded_mutation
from schema.products import ProductType, load_product

if TYPE_CHECKING:
    from schema.customers import CustomerType
    from schema.users import UserType

strawberry.enum(OrderStatus, description="PLACED -> PAID -> RETURNED (once every unit is back); PLACED -> CANCELLED.")
OrderErrorCode = error_codes(service.OrderErrorCode, "order")
OrderError = error_type("OrderError", OrderErrorCode, "order")

ORDER_ID_FILTERS = {"customer": "Customer"}
LINES = nested("order.lines", None, service.lines_statement(), OrderLine.order_id, service.LINE_ORDERING)
RETURNS = nested("order.returns", None, service.returns_statement(), OrderReturn.order_id, service.RETURN_ORDERING)
RETURN_LINES = nested("return.lines", None, service.return_lines_statement(), OrderReturnLine.return_id,
                      service.RETURN_LINE_ORDERING)


@strawberry.type(name="OrderLine", description="A product on an order, with the price and discount that applied then.")
class OrderLineType(Node):
    quantity: int = strawberry.field(description="Units ordered.")
    returned_quantity: int = strawberry.field(description="Units returned so far.")
    list_unit_price: Money = strawberry.field(description="List price per unit when ordered.")
    discount_rate: Decimal = strawberry.field(description="Discount applied, 0 to 1 (0.2 = 20% off).")
    net_unit_price: Money = strawberry.field(description="Price paid per unit, rounded half-up to the cent.")
    line_total: Money = strawberry.field(description="quantity x netUnitPrice.")
    tier_code: str | None = strawberry.field(description="The grade tier whose discount applied; null when none did.")
    _row: strawberry.Private[OrderLine]

    @strawberry.field(description="The product.")
    async def product(self, info: Info) -> ProductType:
        return await load_product(info, self._row.product_id)

    @classmethod
    def from_row(cls, row: OrderLine) -> OrderLineType:
        currency = row.currency
        return cls(id=gid("OrderLine", row.id), quantity=row.quantity, returned_quantity=row.returned_quantity,
                   list_unit_price=Money.of(row.list_unit_price, currency), discount_rate=row.discount_rate,
                   net_unit_price=Money.of(row.net_unit_price, currency), line_total=Money.of(row.line_total, currency),
                   tier_code=row.tier_code, _row=row)


@strawberry.type(description="Units of one line that came back in a return.")
class OrderReturnLineType:
    quantity: int = strawberry.field(description="Units returned.")
    amount: Money = strawberry.field(description="Refunded value: units x the line's net unit price.")
    _row: strawberry.Private[OrderReturnLine]

    @strawberry.field(description="The order line.")
    async def line(self, info: Info) -> OrderLineType:
        return OrderLineType.from_row(await info.context.loader(OrderLineByIdLoader).load(self._row.order_line_id))


@strawberry.type(name="OrderReturn", description="Goods that came back, whole order or by line.")
class OrderReturnType(Node):
    reason: str | None = strawberry.field(description="Why.")
    amount: Money = strawberry.field(description="Total refunded value.")
    returned_at: datetime = strawberry.field(description="When.")
    _row: strawberry.Private[OrderReturn]

    @strawberry.field(description="What came back.")
    async def lines(self, info: Info) -> list[OrderReturnLineType]:
        rows = await info.context.loader(ListByParentLoader, RETURN_LINES).load(self._row.id)
        return [OrderReturnLineType(quantity=r.quantity, amount=Money.of(r.amount, self._row.currency), _row=r) for r in rows]

    @strawberry.field(description="The order.")
    async def order(self, info: Info) -> OrderType:
        return await load_order(info, self._row.order_id)

    @classmethod
    def from_row(cls, row: OrderReturn) -> OrderReturnType:
        return cls(id=gid("OrderReturn", row.id), reason=row.reason, amount=Money.of(row.amount, row.currency),
                   returned_at=row.returned_at, _row=row)


@strawberry.type(name="Order", description="A purchase; lines keep the prices and discount that applied when it was placed.")
class OrderType(Node):
    status: OrderStatus = strawberry.field(description="Status.")
    total: Money = strawberry.field(description="Sum of line totals (net of discount).")
    returned_total: Money = strawberry.field(description="Value returned so far.")
    net_total: Money = strawberry.field(description="total - returnedTotal.")
    source: str = strawberry.field(description="Where the order came from (api, an import's name, ...).")
    external_reference: str | None = strawberry.field(description="The source's reference; unique per source.")
    placed_at: datetime = strawberry.field(description="When placed.")
    paid_at: datetime | None = strawberry.field(description="When paid.")
    cancelled_at: datetime | None = strawberry.field(description="When cancelled.")
    _row: strawberry.Private[OrderRow]

    @classmethod
    def from_row(cls, row: OrderRow) -> OrderType:
        c = row.currency
        return cls(id=gid("Order", row.id), status=OrderStatus(row.status), total=Money.of(row.total, c),
                   returned_total=Money.of(row.returned_total, c), net_total=Money.of(row.total - row.returned_total, c),
                   source=row.source, external_reference=row.external_reference, placed_at=row.placed_at,
                   paid_at=row.paid_at, cancelled_at=row.cancelled_at, _row=row)

    @strawberry.field(description="The customer.")
    async def customer(self, info: Info) -> Annotated["CustomerType", strawberry.lazy("schema.customers")]:
        from schema.customers import load_customer

        return await load_customer(info, self._row.customer_id)

    @strawberry.field(description="Who placed it.")
    async def placed_by(self, info: Info) -> Annotated["UserType", strawberry.lazy("schema.users")] | None:
        from schema.users import load_user

        return await load_user(info, self._row.placed_by_id)

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


async def load_order(info: Info, pk: int) -> OrderType | None:
    row = await info.context.loader(OrderByIdLoader).load(pk)
    return OrderType.from_row(row) if row else None


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
    paid: bool = strawberry.field(default=False, description="Place it as already paid.")
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


def _payload(row, errors) -> OrderPayload:
    return OrderPayload(order=OrderType.from_row(row) if row else None, errors=payload_errors(errors, OrderError, OrderErrorCode))


@strawberry.type
class OrderQueries:
    @guarded_field(description=f"Orders, newest first. {PAGE_ARGUMENTS_HELP}", permissions=[StaffOrOwnAccount])
    async def orders(self, info: Info, filter: OrderFilter | None = None, first: int | None = None,
                     after: str | None = None, last: int | None = None, before: str | None = None) -> Connection[OrderType]:
        spec = to_spec(filter, ORDER_ID_FILTERS)
        fields = scoping.visible_filter_fields(service.FILTER_FIELDS, ORDER_ID_FILTERS, info.context.principal)
        statement = service.orders_statement(and_(filter_clause(spec, fields),
                                                  scoping.orders_scope(info.context.principal)))
        ordering = service.order_ordering([])
        return await list_connection(info, statement, ordering, OrderType.from_row,
                                     first=first, after=after, last=last, before=before)


@strawberry.type
class OrderMutations:
    @guarded_mutation(description="Place an order. Each line is priced from the product's list price and the customer's "
                      "discount (crm.pricing), and the prices are kept on the line.", idempotent=True, permissions=[StaffOwning])
    async def order_place(self, info: Info, input: OrderPlaceInput) -> OrderPayload:
        async def action(session):
            customer_id = decode_id(input.customer_id, "Customer", "customer_id")
            await scoping.require_owner(session, info.context.principal, "customer", customer_id)
            lines = [service.LineRequest(decode_id(line.product_id, "Product", f"lines.{i}.product_id"), line.quantity)
                     for i, line in enumerate(input.lines[: service.MAX_LINES + 1])]
            return await service.place_order(session, customer_id=customer_id, lines=lines, source=input.source,
                                             external_reference=input.external_reference, paid=input.paid,
                                             placed_at=input.placed_at,
                                             actor_id=info.context.actor_id)
        return _payload(*await mutate(info.context, action))

    @guarded_mutation(description="Record payment of a placed order.", idempotent=True, permissions=[Managers])
    async def order_mark_paid(self, info: Info, id: strawberry.ID) -> OrderPayload:
        return _payload(*await mutate(info.context, lambda s: service.mark_paid(s, decode_id(id, "Order", "id"))))

    @guarded_mutation(description="Cancel a placed (unpaid) order. A paid order is returned instead.", idempotent=True, permissions=[Managers])
    async def order_cancel(self, info: Info, id: strawberry.ID) -> OrderPayload:
        return _payload(*await mutate(info.context, lambda s: service.cancel_order(s, decode_id(id, "Order", "id"))))

    @guarded_mutation(description="Return goods of a paid order: the given lines and quantities, or everything not yet "
                      "returned when `lines` is absent. The order becomes RETURNED when every unit is back.",
                      idempotent=True, permissions=[Managers])
    async def order_return(self, info: Info, id: strawberry.ID, lines: list[OrderReturnLineInput] | None = None,
                           reason: str | None = None, returned_at: datetime | None = None) -> OrderReturnPayload:
        async def action(session):
            requests = None if lines is None else [
                service.ReturnRequest(decode_id(line.line_id, "OrderLine", f"lines.{i}.line_id"), line.quantity)
                for i, line in enumerate(lines[: service.MAX_LINES + 1])
            ]
            return await service.return_order(session, decode_id(id, "Order", "id"), requests, reason=reason,
                                              actor_id=info.context.actor_id, returned_at=returned_at)
        result, errors = await mutate(info.context, action)
        order, record = result if result else (None, None)
        return OrderReturnPayload(order=OrderType.from_row(order) if order else None,
                                  order_return=OrderReturnType.from_row(record) if record else None,
                                  errors=payload_errors(errors, OrderError, OrderErrorCode))


sql_json.register_type("Order", OrderRow, {
    "id": sql_json.GlobalId("Order"), "status": "status", "total": sql_json.MoneyOf("total"),
    "returnedTotal": sql_json.MoneyOf("returned_total"),
    "netTotal": sql_json.MoneyOf(lambda row: row.total - row.returned_total),
    "source": "source", "externalReference": "external_reference", "placedAt": "placed_at", "paidAt": "paid_at",
    "cancelledAt": "cancelled_at",
}, relations={"customer": ("Customer", "customer_id"), "placedBy": ("User", "placed_by_id")})
