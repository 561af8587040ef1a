from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Identity, Index, Integer, Text, UniqueConstraint, text,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MONEY, RATE, Base, Timestamped, check_in


class Product(Timestamped, Base):
    __tablename__ = "product"
    __table_args__ = (
        CheckConstraint("list_price >= 0", name="list_price_not_negative"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        Index("uq_product_sku", text("upper(sku)"), unique=True),
        Index("ix_product_name_id", "name", "id"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    sku: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    list_price: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    currency: Mapped[str] = mapped_column(Text, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OrderStatus(enum.StrEnum):
    PLACED = "placed"
    PAID = "paid"
    CANCELLED = "cancelled"
    RETURNED = "returned"  # every line returned in full


class Order(Timestamped, Base):
    """A purchase. Prices and the discount that applied are snapshotted on its lines."""

    __tablename__ = "sales_order"  # "order" is reserved in SQL
    __table_args__ = (
        CheckConstraint(check_in("status", OrderStatus), name="status"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        # A replayed import (same source and reference) cannot create a second order.
        UniqueConstraint("source", "external_reference", name="uq_sales_order_source_external_reference"),
        Index("ix_sales_order_customer_id_placed_at_id", "customer_id", "placed_at", "id"),
        Index("ix_sales_order_placed_at_id", "placed_at", "id"),
        Index("ix_sales_order_status_id", "status", "id"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customer.id"), nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default=OrderStatus.PLACED.value)
    currency: Mapped[str] = mapped_column(Text, nullable=False)
    # Net of discount, before returns; returned_total says what came back.
    total: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    returned_total: Mapped[Decimal] = mapped_column(MONEY, nullable=False, server_default=text("0"))
    source: Mapped[str] = mapped_column(Text, nullable=False, server_default="api")
    external_reference: Mapped[str | None] = mapped_column(Text)
    placed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    placed_by_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("app_user.id"))


class OrderLine(Base):
    __tablename__ = "order_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("returned_quantity BETWEEN 0 AND quantity", name="returned_quantity"),
        CheckConstraint("discount_rate >= 0 AND discount_rate < 1", name="discount_rate"),
        Index("ix_order_line_order_id_id", "order_id", "id"),
        Index("ix_order_line_product_id", "product_id"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    order_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("sales_order.id"), nullable=False)
    product_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("product.id"), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    # The order's currency, kept on each line so a line reads on its own.
    currency: Mapped[str] = mapped_column(Text, nullable=False)
    list_unit_price: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    discount_rate: Mapped[Decimal] = mapped_column(RATE, nullable=False)
    # The tier whose discount applied (programme tier code), null when none did.
    tier_code: Mapped[str | None] = mapped_column(Text)
    rule_version_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("rule_version.id"))
    net_unit_price: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    line_total: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    returned_quantity: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))


class OrderReturn(Base):
    """Goods coming back: a source of its own, so each return counts once in a ledger."""

    __tablename__ = "order_return"
    __table_args__ = (Index("ix_order_return_order_id", "order_id", "returned_at"),)
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    order_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("sales_order.id"), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    currency: Mapped[str] = mapped_column(Text, nullable=False)
    returned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    returned_by_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("app_user.id"))


class OrderReturnLine(Base):
    __tablename__ = "order_return_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_order_return_line_return_id", "return_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    return_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("order_return.id"), nullable=False)
    order_line_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("order_line.id"), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
