from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger, CheckConstraint, Date, DateTime, ForeignKey, Identity, Index, SmallInteger, Text, text,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MONEY, Base, Timestamped, check_in


class OpportunityStage(enum.StrEnum):
    LEAD = "lead"
    QUALIFIED = "qualified"
    PROPOSAL = "proposal"
    NEGOTIATION = "negotiation"
    WON = "won"
    LOST = "lost"


class Opportunity(Timestamped, Base):
    """A deal: what a customer may buy, how likely, by when, through whom."""

    __tablename__ = "opportunity"
    __table_args__ = (
        CheckConstraint(check_in("stage", OpportunityStage), name="stage"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        CheckConstraint("probability BETWEEN 0 AND 100", name="probability"),
        CheckConstraint("stage <> 'lost' OR lost_reason IS NOT NULL", name="lost_reason"),
        # Pipeline board (stage columns), customer.opportunities, owner's deals.
        Index("ix_opportunity_stage_id", "stage", "id"),
        Index("ix_opportunity_customer_id_id", "customer_id", "id"),
        Index("ix_opportunity_owner_id_id", "owner_id", "id"),
        Index("ix_opportunity_expected_close_id", "expected_close", "id"),
        Index("ix_opportunity_amount_id", "amount", "id"),
        Index("ix_opportunity_created_at_id", "created_at", "id"),
        Index("ix_opportunity_channel_id", "channel_id"),
        Index("ix_opportunity_registering_partner_id", "registering_partner_id"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customer.id"), nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    currency: Mapped[str] = mapped_column(Text, nullable=False)
    stage: Mapped[str] = mapped_column(Text, nullable=False, server_default=OpportunityStage.LEAD.value)
    # Percent, 0..100; each stage has a default, overridable per deal.
    probability: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    expected_close: Mapped[date | None] = mapped_column(Date)
    owner_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("app_user.id"))
    channel_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("channel.id"))
    registering_partner_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("customer.id"))
    lost_reason: Mapped[str | None] = mapped_column(Text)
    stage_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=text("now()"))


class OpportunityStageChange(Base):
    """One move of a deal between stages; the first row of a deal has from_stage NULL."""

    __tablename__ = "opportunity_stage_change"
    __table_args__ = (
        Index("ix_opportunity_stage_change_opportunity_id_changed_at", "opportunity_id", "changed_at", "id"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("opportunity.id"), nullable=False)
    from_stage: Mapped[str | None] = mapped_column(Text)
    to_stage: Mapped[str] = mapped_column(Text, nullable=False)
    probability: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    changed_by_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("app_user.id"))
