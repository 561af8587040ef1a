from __future__ import annotations

import enum

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Identity, Index, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Timestamped, check_in


class UserRole(enum.StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    SALES = "sales"
    PARTNER = "partner"


class User(Timestamped, Base):
    """A staff or partner login. Here an owner and actor; credentials come with [4/6]."""

    __tablename__ = "app_user"  # "user" is reserved in PostgreSQL
    __table_args__ = (
        CheckConstraint(check_in("role", UserRole), name="role"),
        # A partner user acts for exactly one partner account; staff for none.
        CheckConstraint("(role = 'partner') = (partner_account_id IS NOT NULL)", name="partner_account"),
        Index("uq_app_user_email", func.lower(text("email")), unique=True),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    email: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    role: Mapped[str] = mapped_column(Text, nullable=False)
    partner_account_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("customer.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    # argon2id hash; null until a password is set (such a user cannot log in).
    password_hash: Mapped[str | None] = mapped_column(Text)
