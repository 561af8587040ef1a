"""The orders domain's list builders and Query/Mutation bodies; its types are in schema/orders.py."""

from __future__ import annotations

from datetime import datetime

import strawberry
from sqlalchemy import and_
from strawberry.types import Info

from crm import orders as service
from models import OrderLine
from resolvers.lists import filter_clause
from resolvers import scoping
from resolvers.mutations import mutate
from resolvers.ids import decode_id
from schema.common import payload_errors
from schema.filters import to_spec
from schema.fields import root_connection
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection
from schema.permissions import Managers, StaffOrOwnAccount, StaffOwning, guarded_mutation
from schema.orders import (
    OrderError, OrderErrorCode, OrderFilter, OrderPayload, OrderPlaceInput, OrderReturnLineInput, OrderReturnPayload,
    OrderReturnType, OrderType,
)


ORDER_ID_FILTERS = {"customer": "Customer"}


def _payload(row, errors) -> OrderPayload:
    return OrderPayload(order=OrderType.from_row(row) if row else None, errors=payload_errors(errors, OrderError, OrderErrorCode))


def orders_list(principal, filter: OrderFilter | None = None):
    """The rows and ordering of `orders`."""
    spec = to_spec(filter, ORDER_ID_FILTERS)
    fields = scoping.visible_filter_fields(service.FILTER_FIELDS, ORDER_ID_FILTERS, principal)
    statement = service.orders_statement(and_(filter_clause(spec, fields),
                                              scoping.orders_scope(principal)))
    ordering = service.order_ordering([])
    return statement, ordering


@strawberry.type
class OrderQueries:
    orders: Connection[OrderType] = root_connection(
        orders_list, description=f"Orders, newest first. {PAGE_ARGUMENTS_HELP}", permissions=[StaffOrOwnAccount])


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

    @guarded_mutation(description="Record payment of a placed order, now or at `paidAt` (an import's real payment "
                      "time). From then on the order counts as qualifying volume.", idempotent=True, permissions=[Managers])
    async def order_mark_paid(self, info: Info, id: strawberry.ID, paid_at: datetime | None = None) -> OrderPayload:
        return _payload(*await mutate(info.context, lambda s: service.mark_paid(
            s, decode_id(id, "Order", "id"), paid_at=paid_at, actor_id=info.context.actor_id)))

    @guarded_mutation(description="Cancel a placed (unpaid) order. A paid order is returned instead.", idempotent=True, permissions=[Managers])
    async def order_cancel(self, info: Info, id: strawberry.ID) -> OrderPayload:
        return _payload(*await mutate(info.context, lambda s: service.cancel_order(
            s, decode_id(id, "Order", "id"), actor_id=info.context.actor_id)))

    @guarded_mutation(description="Return goods of a paid order: the given lines and quantities, or everything not yet "
                      "returned when `lines` is absent. The order becomes RETURNED when every unit is back. "
                      "`returnedAt` (default now) is not in the future nor before the order's payment (OUT_OF_RANGE).",
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
