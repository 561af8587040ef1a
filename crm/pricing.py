"""One price: every quote and every order line is priced here, so two salespeople can
never price the same customer differently.

List price x (1 - discount), the discount being that of the customer's grade tier in
force at the instant priced (tiers.pricing); net unit prices round half-up to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.money import round_money
from models import Product
from tiers.pricing import TierDiscount, tier_discount


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


@dataclass(frozen=True)
class Quote:
    at: datetime
    currency: str
    discount: TierDiscount
    lines: list[tuple[Product, int, LinePrice]]

    @property
    def total(self) -> Decimal:
        return sum((price.line_total for _, _, price in self.lines), Decimal("0.00"))


async def quote(session: AsyncSession, customer_id: int, lines: list[tuple[Product, int]], currency: str,
                at: datetime) -> Quote:
    """Prices lines (products of one currency) for a customer at an instant."""
    discount = await tier_discount(session, customer_id, currency, at)
    priced = [(product, quantity, price_line(product.list_price, quantity, discount.rate)) for product, quantity in lines]
    return Quote(at, currency, discount, priced)
