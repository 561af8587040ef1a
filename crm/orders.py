"""Orders: placing (priced by crm.pricing), paying, cancelling, returning.

Status moves: PLACED -> PAID -> (returns, whole or by line) -> RETURNED once every unit
is back; PLACED -> CANCELLED. A paid order is returned, not cancelled; only paid goods
are returned. A replayed import (same source and external reference) returns the order
it already created when it asks for the same thing, and DUPLICATE when it does not.
In grade programmes an order counts as qualifying volume once paid, at its payment
instant (tiers.ledger): placing it paid, or `mark_paid`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm import pricing
from events.orders import OrderCancelled, OrderPaid, OrderPlaced, OrderReturned
from events.outbox import Emission, emit_all
from tiers import ledger
from kernel.errors import Code, DomainError, FieldError, domain_codes
from kernel.filtering import FilterField
from kernel.pagination import TIME_KEY, Sortable, build_ordering
from kernel.references import live, lock_key
from kernel.validation import Checker
from models import Customer, CustomerClassification, Order, OrderLine, OrderReturn, OrderReturnLine, OrderStatus, Product

OrderErrorCode = domain_codes(
    "OrderErrorCode", "duplicate", "inactive_product", "currency_mismatch", "invalid_status", "nothing_to_return",
)

MAX_LINES = 100
SOURCE_MAX = 40
REFERENCE_MAX = 100


@dataclass(frozen=True)
class LineRequest:
    product_id: int
    quantity: int


async def place_order(session: AsyncSession, *, customer_id: int, lines: list[LineRequest], source: str = "api",
                      external_reference: str | None = None, paid: bool = False, placed_at: datetime | None = None,
                      actor_id: int | None) -> Order:
    """`placed_at` (default now) lets an import keep the time an order was really placed;
    prices and qualifying volume are those of that instant."""
    check = Checker()
    # Taken once so the instant checked is the instant the order gets when placed_at is not given.
    now = datetime.now(timezone.utc)
    check.happened("placed_at", placed_at, now, "placedAt")
    source = check.text("source", source, max_len=SOURCE_MAX, required=True) or "api"
    external_reference = check.text("external_reference", external_reference, max_len=REFERENCE_MAX, label="external reference")
    if not lines:
        check.fail("lines", "An order has at least one line.", Code.REQUIRED)
    elif len(lines) > MAX_LINES:
        check.fail("lines", f"An order has at most {MAX_LINES} lines.", Code.TOO_MANY)
    for i, line in enumerate(lines[:MAX_LINES]):
        check.quantity(f"lines.{i}.quantity", line.quantity)
    check.done()

    if external_reference is not None:
        # Concurrent imports of one reference queue here; the later ones then replay.
        await lock_key(session, "sales_order.reference", f"{source}\x1f{external_reference}")
        existing = await _by_reference(session, source, external_reference)
        if existing is not None:
            return await _replayed(session, existing, customer_id, lines)

    customer = await live(session, Customer, customer_id, "customer_id", "customer")
    products = {p.id: p for p in (await session.execute(
        select(Product).where(Product.id.in_(sorted({line.product_id for line in lines})))
    )).scalars()}
    errors: list[FieldError] = []
    for i, line in enumerate(lines):
        product = products.get(line.product_id)
        if product is None:
            errors.append(FieldError(f"lines.{i}.product_id", "No product has this ID.", Code.NOT_FOUND))
        elif product.archived_at is not None or not product.active:
            errors.append(FieldError(f"lines.{i}.product_id", f"{product.name} is not for sale.",
                                     OrderErrorCode.INACTIVE_PRODUCT, ("Product", product.id)))
    if errors:
        raise DomainError(errors)
    currencies = {products[line.product_id].currency for line in lines}
    if len(currencies) > 1:
        raise DomainError.one("lines", f"All lines of an order are in one currency; these are in {', '.join(sorted(currencies))}.",
                              OrderErrorCode.CURRENCY_MISMATCH)

    currency = currencies.pop()
    # Concurrent orders of one member are priced one after the other, each at the tier
    # in force when it is placed: an order placed just after another's promotion must
    # see it (attack report: orders 8-22 ms after a promotion were priced at the old tier).
    await ledger.lock_memberships(session, customer.id, currency)
    now = placed_at or datetime.now(timezone.utc)
    priced = await pricing.quote(session, customer.id, [(products[l.product_id], l.quantity) for l in lines], currency, now)
    check = Checker()
    check.money("lines", priced.total)  # the total must fit the column too
    check.done()
    order = Order(customer_id=customer.id, currency=currency, total=priced.total, source=source,
                  external_reference=external_reference, placed_by_id=actor_id, placed_at=now,
                  status=OrderStatus.PAID.value if paid else OrderStatus.PLACED.value,
                  paid_at=now if paid else None)
    session.add(order)
    await session.flush()
    session.add_all(
        OrderLine(order_id=order.id, product_id=product.id, quantity=quantity, currency=currency,
                  list_unit_price=price.list_unit_price, discount_rate=price.discount_rate,
                  net_unit_price=price.net_unit_price, line_total=price.line_total,
                  tier_code=priced.discount.tier_code, rule_version_id=priced.discount.rule_version_id)
        for product, quantity, price in priced.lines
    )
    await session.flush()
    partner = customer.classification == CustomerClassification.PARTNER
    await emit_all(session, [
        _emission(OrderPlaced, order, partner, order.placed_at, source=source, external_reference=external_reference,
                  lines=len(lines), placed_at=order.placed_at),
        *([_emission(OrderPaid, order, partner, order.paid_at, paid_at=order.paid_at)] if paid else [])])
    # Qualifying volume once paid (tiers.ledger.counted_at), and a promotion if this order
    # earns one: same transaction.
    await ledger.order_paid(session, order, actor_id)
    return order


async def _by_reference(session: AsyncSession, source: str, reference: str | None) -> Order | None:
    return (await session.execute(
        select(Order).where(Order.source == source, Order.external_reference == reference)
    )).scalar_one_or_none()


async def _replayed(session: AsyncSession, order: Order, customer_id: int, lines: list[LineRequest]) -> Order:
    stored = (await session.execute(
        select(OrderLine.product_id, OrderLine.quantity).where(OrderLine.order_id == order.id).order_by(OrderLine.id)
    )).all()
    same = order.customer_id == customer_id and [tuple(r) for r in stored] == [(l.product_id, l.quantity) for l in lines]
    if not same:
        raise DomainError.one("external_reference", "An order with this source and reference exists with other contents.",
                              OrderErrorCode.DUPLICATE, ("Order", order.id))
    return order


def _emission(kind: type, order: Order, partner: bool, at: datetime, **extra: Any) -> Emission:
    """An order's event: for the customer's account when the customer is a partner (it
    reads its own orders), else for staff only."""
    return Emission(kind(order=order.id, customer=order.customer_id, total=order.total, currency=order.currency,
                         status=OrderStatus(order.status).value, **extra),
                    order.id, at, order.customer_id if partner else None)


async def _locked(session: AsyncSession, order_id: int) -> tuple[Order, bool]:
    """The order, locked, and whether its customer is a partner (for its events)."""
    row = (await session.execute(
        select(Order, Customer.classification == CustomerClassification.PARTNER)
        .join(Customer, Customer.id == Order.customer_id).where(Order.id == order_id).with_for_update(of=Order)
    )).one_or_none()
    if row is None:
        raise DomainError.one("id", "No order has this ID.", Code.NOT_FOUND)
    return row[0], bool(row[1])


async def mark_paid(session: AsyncSession, order_id: int, *, paid_at: datetime | None = None,
                    actor_id: int | None = None) -> Order:
    """Payment of a placed order, now or at `paid_at` (an import's real payment time);
    from that instant the order counts as qualifying volume."""
    check = Checker()
    now = datetime.now(timezone.utc)
    check.happened("paid_at", paid_at, now, "paidAt")
    check.done()
    order, partner = await _locked(session, order_id)
    # "Now" is read once the member's memberships are locked, as for every tier writer
    # (tiers.membership.instant_after_lock): read before, a payment that waited would be
    # dated before the change it waited for.
    await ledger.lock_memberships(session, order.customer_id, order.currency)
    now = datetime.now(timezone.utc)
    if order.status != OrderStatus.PLACED:
        raise DomainError.one("id", f"Only a placed order can be paid; this one is {order.status}.", OrderErrorCode.INVALID_STATUS)
    if paid_at is not None and paid_at < order.placed_at:
        raise DomainError.one("paid_at", "An order is paid after it is placed.", Code.OUT_OF_RANGE)
    order.status = OrderStatus.PAID.value
    order.paid_at = paid_at or now
    await session.flush()
    await session.refresh(order)
    await emit_all(session, [_emission(OrderPaid, order, partner, order.paid_at, paid_at=order.paid_at)])
    await ledger.order_paid(session, order, actor_id)
    return order


async def cancel_order(session: AsyncSession, order_id: int, *, actor_id: int | None = None) -> Order:
    order, partner = await _locked(session, order_id)
    if order.status != OrderStatus.PLACED:
        hint = " Return a paid order instead." if order.status == OrderStatus.PAID else ""
        raise DomainError.one("id", f"Only a placed order can be cancelled; this one is {order.status}.{hint}",
                              OrderErrorCode.INVALID_STATUS)
    await ledger.lock_memberships(session, order.customer_id, order.currency)  # before "now", as in mark_paid
    order.status = OrderStatus.CANCELLED.value
    order.cancelled_at = datetime.now(timezone.utc)
    await session.flush()
    await session.refresh(order)
    await emit_all(session, [_emission(OrderCancelled, order, partner, order.cancelled_at, cancelled_at=order.cancelled_at)])
    await ledger.order_cancelled(session, order, actor_id)
    return order


@dataclass(frozen=True)
class ReturnRequest:
    line_id: int
    quantity: int


async def return_order(session: AsyncSession, order_id: int, lines: list[ReturnRequest] | None, *,
                       reason: str | None, actor_id: int | None, returned_at: datetime | None = None) -> tuple[Order, OrderReturn]:
    """Returns the given quantities (or everything not yet returned) of a paid order."""
    check = Checker()
    now = datetime.now(timezone.utc)
    check.happened("returned_at", returned_at, now, "returnedAt")
    reason = check.text("reason", reason, max_len=500)
    if lines is not None and len(lines) > MAX_LINES:
        check.fail("lines", f"At most {MAX_LINES} lines.", Code.TOO_MANY)
    for i, line in enumerate((lines or [])[:MAX_LINES]):
        check.quantity(f"lines.{i}.quantity", line.quantity)
    check.done()
    order, partner = await _locked(session, order_id)
    if order.status != OrderStatus.PAID:
        raise DomainError.one("id", f"Only a paid order can be returned; this one is {order.status}.", OrderErrorCode.INVALID_STATUS)
    await ledger.lock_memberships(session, order.customer_id, order.currency)  # before "now", as in mark_paid
    now = datetime.now(timezone.utc)
    if returned_at is not None and order.paid_at is not None and returned_at < order.paid_at:
        # (an order is paid after it is placed, so this also keeps returns after placement)
        raise DomainError.one("returned_at", f"A return comes after the payment ({order.paid_at.isoformat()}).",
                              Code.OUT_OF_RANGE)
    order_lines = {line.id: line for line in (await session.execute(
        select(OrderLine).where(OrderLine.order_id == order.id).with_for_update()
    )).scalars()}
    if lines is None:
        wanted = [(line, line.quantity - line.returned_quantity) for line in order_lines.values()
                  if line.quantity > line.returned_quantity]
    else:
        wanted, errors = [], []
        seen: set[int] = set()
        for i, request in enumerate(lines):
            line = order_lines.get(request.line_id)
            if line is None:
                errors.append(FieldError(f"lines.{i}.line_id", "This order has no such line.", Code.NOT_FOUND))
            elif request.line_id in seen:
                errors.append(FieldError(f"lines.{i}.line_id", "Each line once per return.", Code.INVALID))
            elif request.quantity > line.quantity - line.returned_quantity:
                errors.append(FieldError(f"lines.{i}.quantity",
                                         f"Only {line.quantity - line.returned_quantity} of this line can still be returned.",
                                         Code.OUT_OF_RANGE))
            else:
                wanted.append((line, request.quantity))
            seen.add(request.line_id)
        if errors:
            raise DomainError(errors)
    if not wanted:
        raise DomainError.one("lines", "Everything on this order has been returned already.", OrderErrorCode.NOTHING_TO_RETURN)
    amount = sum((line.net_unit_price * qty for line, qty in wanted), Decimal("0.00"))
    record = OrderReturn(order_id=order.id, reason=reason, amount=amount, currency=order.currency, returned_by_id=actor_id)
    record.returned_at = returned_at or now  # not the column's default: now() is the transaction's start
    session.add(record)
    await session.flush()
    for line, qty in wanted:
        line.returned_quantity += qty
        session.add(OrderReturnLine(return_id=record.id, order_line_id=line.id, quantity=qty,
                                    amount=line.net_unit_price * qty))
    order.returned_total = order.returned_total + amount
    if all(line.returned_quantity == line.quantity for line in order_lines.values()):
        order.status = OrderStatus.RETURNED.value
    await session.flush()
    await session.refresh(order)
    await emit_all(session, [_emission(OrderReturned, order, partner, record.returned_at, order_return=record.id,
                                       amount=record.amount, returned_total=order.returned_total,
                                       returned_at=record.returned_at)])
    await ledger.order_returned(session, order, record, actor_id)
    return order, record


FILTER_FIELDS = {
    "customer": FilterField(Order.customer_id, "id"),  # ix_sales_order_customer_id_placed_at_id
    "status": FilterField(Order.status, "enum"),  # ix_sales_order_status_id
    "placed_at": FilterField(Order.placed_at, "time"),  # ix_sales_order_placed_at_id
    "source": FilterField(Order.source, "text"),  # uq_sales_order_source_external_reference
    "external_reference": FilterField(Order.external_reference, "text"),
}
SORTABLE = {"placed_at": Sortable(Order.placed_at, "placed_at", TIME_KEY)}  # ix_sales_order_placed_at_id


def order_ordering(requested: list[tuple[str, bool]]):
    return build_ordering(SORTABLE, requested, Order.id, default=[("placed_at", True)])


def orders_statement(condition: Any = None) -> Select:
    return select(Order).where(condition) if condition is not None else select(Order)


LINE_ORDERING = build_ordering({}, [], OrderLine.id)
RETURN_ORDERING = build_ordering({}, [], OrderReturn.id)
RETURN_LINE_ORDERING = build_ordering({}, [], OrderReturnLine.id)


def lines_statement() -> Select:
    return select(OrderLine)


def returns_statement() -> Select:
    return select(OrderReturn)


def return_lines_statement() -> Select:
    return select(OrderReturnLine)
