from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Identity, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Timestamped
from models.customer import ConsentFlags


class Contact(ConsentFlags, Timestamped, Base):
    """A person at an organisation customer."""

    __tablename__ = "contact"
    __table_args__ = (
        CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
        # customer.contacts, ordered by name then id; also the contacts list by customer.
        Index("ix_contact_customer_id_name_id", "customer_id", "name", "id"),
        Index("ix_contact_name_id", "name", "id"),
        Index("ix_contact_email", "email"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customer.id"), nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    title: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
