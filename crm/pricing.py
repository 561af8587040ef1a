"""One price: every quote and order line is priced here, so two salespeople can never
price the same customer differently.

The discount comes from the customer's grade tier once the tier engine exists (issue
[3/6] fills in `discount_rate_for`); until then no customer has a discount.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from crm.money import round_money

NO_DISCOUNT = Decimal("0.0000")


async def discount_rate_for(session: AsyncSession, customer_id: int, at: datetime) -> Decimal:
    """The discount rate in [0, 1) that applies to the customer's purchases at `at`."""
    return NO_DISCOUNT


@dataclass(frozen=True)
class LinePrice:
    list_unit_price: Decimal
    discount_rate: Decimal
    net_unit_price: Decimal
    line_total: Decimal


def price_line(list_unit_price: Decimal, quantity: int, discount_rate: Decimal) -> LinePrice:
    """Net unit price rounded half-up to the cent, then times the quantity (so a line
    total is always quantity x the unit price shown on the line)."""
    net = round_money(list_unit_price * (Decimal(1) - discount_rate))
    return LinePrice(list_unit_price, discount_rate, net, net * quantity)
