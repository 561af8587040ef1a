from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Identity, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Timestamped, check_in


class CustomerKind(enum.StrEnum):
    ORGANISATION = "organisation"
    PERSON = "person"


class CustomerClassification(enum.StrEnum):
    """Which market a party belongs to (the coarsest way of dividing customers)."""

    POTENTIAL = "potential"
    TARGET = "target"
    CUSTOMER = "customer"
    PARTNER = "partner"
    NON_TARGET = "non_target"


class LifecycleStage(enum.StrEnum):
    """Where a customer is in its life cycle (layering)."""

    LEAD = "lead"
    PROSPECT = "prospect"
    OPPORTUNITY = "opportunity"
    CUSTOMER = "customer"
    LOYAL = "loyal"
    CHURNED = "churned"


class Customer(Timestamped, Base):
    """An organisation or a person the company sells to, or a partner selling for it.

    Enumerations are text with CHECK constraints rather than PostgreSQL enum types, so a
    new value is one constraint swap in a migration.
    """

    __tablename__ = "customer"
    __table_args__ = (
        CheckConstraint(check_in("kind", CustomerKind), name="kind"),
        CheckConstraint(check_in("classification", CustomerClassification), name="classification"),
        CheckConstraint(check_in("lifecycle_stage", LifecycleStage), name="lifecycle_stage"),
        CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
    )
    # INSERT/UPDATE ... RETURNING the server-set columns, instead of a second SELECT.
    __mapper_args__ = {"eager_defaults": True}

    # Ordered by id by default: the primary key index serves the keyset cursor.
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    classification: Mapped[str] = mapped_column(
        Text, nullable=False, server_default=CustomerClassification.POTENTIAL.value
    )
    lifecycle_stage: Mapped[str] = mapped_column(
        Text, nullable=False, server_default=LifecycleStage.LEAD.value
    )
    email: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")
    )
    attributes: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
