"""Events of orders. An order's events concern its customer's account when the customer
is a partner (a partner reads its own orders); otherwise staff only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from events.catalogue import Ref, event

BUYER = "staff, and the customer's account when the customer is a partner"


@dataclass(frozen=True, kw_only=True)
class OfOrder:
    order: Annotated[int, Ref("Order")]
    customer: Annotated[int, Ref("Customer")]
    total: Decimal  # the order's total, in `currency`
    currency: str
    status: str  # after the change: placed | paid | cancelled | returned


@event("order.placed", aggregate="Order", audience=BUYER)
class OrderPlaced(OfOrder):
    """An order was placed (an import placed already paid emits `order.paid` too). A
    replayed import writes nothing and emits nothing."""
    source: str
    external_reference: str | None
    lines: int
    placed_at: datetime


@event("order.paid", aggregate="Order", audience=BUYER)
class OrderPaid(OfOrder):
    """An order was paid: from `paidAt` it counts as qualifying volume."""
    paid_at: datetime


@event("order.cancelled", aggregate="Order", audience=BUYER)
class OrderCancelled(OfOrder):
    """A placed, unpaid order was cancelled."""
    cancelled_at: datetime


@event("order.returned", aggregate="Order", audience=BUYER)
class OrderReturned(OfOrder):
    """Goods of a paid order came back (some lines, or everything: then `status` is
    returned)."""
    order_return: Annotated[int, Ref("OrderReturn")]
    amount: Decimal  # of this return, in `currency`
    returned_total: Decimal  # of every return of the order so far
    returned_at: datetime
