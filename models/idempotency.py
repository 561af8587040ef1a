from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, LargeBinary, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class IdempotencyKey(Base):
    """A client's idempotency key for one mutation, and what the first request with it
    returned, so a retry gets that answer instead of a second effect (crm.idempotency)."""

    __tablename__ = "idempotency_key"
    __table_args__ = (
        UniqueConstraint("caller", "operation", "key"),
        Index("ix_idempotency_key_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # Who sent it ("user:42", or "subject:<token subject>" for tokens of no user): keys are per caller.
    caller: Mapped[str] = mapped_column(Text, nullable=False)
    operation: Mapped[str] = mapped_column(Text, nullable=False)
    key: Mapped[str] = mapped_column(Text, nullable=False)
    # SHA-256 of the canonical arguments: the same key with other arguments is refused.
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    # The domain result as references to rows (crm.idempotency.encode); written in the
    # transaction that claimed the key, so a committed row always has it.
    result: Mapped[Any | None] = mapped_column(JSONB, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
