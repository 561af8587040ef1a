from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Identity, Index, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, check_in


class ActivityKind(enum.StrEnum):
    CALL = "call"
    VISIT = "visit"
    EMAIL = "email"
    SMS = "sms"
    MEETING = "meeting"
    NOTE = "note"
    COMMITMENT = "commitment"  # a promise made to the customer


class Activity(Base):
    """Something done with or promised to a customer; `due_at` makes it a follow-up."""

    __tablename__ = "activity"
    __table_args__ = (
        CheckConstraint(check_in("kind", ActivityKind), name="kind"),
        CheckConstraint("length(btrim(subject)) > 0", name="subject_not_blank"),
        # customer.activities newest first; the follow-up inbox (open items by due date).
        Index("ix_activity_customer_id_occurred_at_id", "customer_id", "occurred_at", "id"),
        Index("ix_activity_open_due", "user_id", "due_at", "id", postgresql_where=text("done_at IS NULL AND due_at IS NOT NULL")),
        Index("ix_activity_open_commitment", "customer_id", "due_at", postgresql_where=text("kind = 'commitment' AND done_at IS NULL")),
        Index("ix_activity_opportunity_id", "opportunity_id"),
        Index("ix_activity_contact_id", "contact_id"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customer.id"), nullable=False)
    opportunity_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("opportunity.id"))
    contact_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("contact.id"))
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    subject: Mapped[str] = mapped_column(Text, nullable=False)
    body: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The customer reached out (an inbound call, a reply): no consent is needed for it.
    inbound: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    user_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
