from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class DealRegistration(Base):
    """A partner's registered claim on a customer (and optionally one of its deals),
    exclusive until `expires_at`."""

    __tablename__ = "deal_registration"
    __table_args__ = (
        Index("ix_deal_registration_customer_id_expires_at", "customer_id", "expires_at"),
        Index("ix_deal_registration_partner_id", "partner_id"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    partner_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customer.id"), nullable=False)
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customer.id"), nullable=False)
    opportunity_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("opportunity.id"))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
