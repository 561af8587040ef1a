from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, DateTime, ForeignKey, Identity, Index, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MONEY, Base, Timestamped, check_in


class ChannelKind(enum.StrEnum):
    DIRECT = "direct"
    WEB = "web"
    EVENT = "event"
    SOCIAL = "social"
    EMAIL = "email"
    PHONE = "phone"
    PARTNER = "partner"


class Channel(Timestamped, Base):
    """Where customers come from."""

    __tablename__ = "channel"
    __table_args__ = (
        CheckConstraint(check_in("kind", ChannelKind), name="kind"),
        Index("uq_channel_name", text("lower(name)"), unique=True),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ChannelSpend(Base):
    """What a channel cost over a period [period_start, period_end)."""

    __tablename__ = "channel_spend"
    __table_args__ = (
        CheckConstraint("period_end > period_start", name="period"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        Index("ix_channel_spend_channel_id_period_start", "channel_id", "period_start"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    channel_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("channel.id"), nullable=False)
    period_start: Mapped[date] = mapped_column(Date, nullable=False)
    period_end: Mapped[date] = mapped_column(Date, nullable=False)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    currency: Mapped[str] = mapped_column(Text, nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    recorded_by_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("app_user.id"))
