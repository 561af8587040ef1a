from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Text,
    text,
)
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


# Digits only, so "+44 (20) 7946-0000" and "0044 20 79460000" meet in one index.
PHONE_KEY_SQL = "nullif(regexp_replace(phone, '[^0-9]', '', 'g'), '')"
# Upper case without spaces, dots, dashes or slashes: "de 123.456-789" -> "DE123456789".
TAX_ID_KEY_SQL = "nullif(upper(regexp_replace(tax_id, '[\\s./-]', '', 'g')), '')"


class ConsentFlags:
    """Opt-outs per medium and a general do-not-contact; all default to contactable."""

    email_opt_out: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    phone_opt_out: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    sms_opt_out: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    do_not_contact: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))


class Customer(ConsentFlags, Timestamped, Base):
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
        CheckConstraint("referring_partner_id IS DISTINCT FROM id", name="not_own_referrer"),
        # Sorts and filters of the customers list (see docs/filters.md).
        Index("ix_customer_name_id", "name", "id"),
        Index("ix_customer_created_at_id", "created_at", "id"),
        Index("ix_customer_updated_at_id", "updated_at", "id"),
        Index("ix_customer_classification_id", "classification", "id"),
        Index("ix_customer_lifecycle_stage_id", "lifecycle_stage", "id"),
        Index("ix_customer_owner_id_id", "owner_id", "id"),
        Index("ix_customer_source_channel_id", "source_channel_id"),
        Index("ix_customer_referring_partner_id", "referring_partner_id"),
        Index("ix_customer_tags", "tags", postgresql_using="gin"),
        Index("ix_customer_attributes", "attributes", postgresql_using="gin", postgresql_ops={"attributes": "jsonb_path_ops"}),
        Index("ix_customer_name_trgm", "name", postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"}),
        # Duplicate detection: normalised keys of live customers.
        Index("ix_customer_email", "email", postgresql_where=text("archived_at IS NULL")),
        Index("ix_customer_phone_key", "phone_key", postgresql_where=text("archived_at IS NULL")),
        Index("ix_customer_tax_id_key", "tax_id_key", postgresql_where=text("archived_at IS NULL")),
    )
    # INSERT/UPDATE ... RETURNING the server-set columns, instead of a second SELECT.
    __mapper_args__ = {"eager_defaults": True}

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
    tax_id: Mapped[str | None] = mapped_column(Text)
    phone_key: Mapped[str | None] = mapped_column(Text, Computed(PHONE_KEY_SQL, persisted=True))
    tax_id_key: Mapped[str | None] = mapped_column(Text, Computed(TAX_ID_KEY_SQL, persisted=True))
    tags: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")
    )
    attributes: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    owner_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("app_user.id", use_alter=True))
    source_channel_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("channel.id"))
    referring_partner_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("customer.id"))
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when this customer was merged into another; it is archived at the same time.
    merged_into_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("customer.id"))


class CustomerMerge(Base):
    """Audit record of customerMerge: what was merged into what, by whom, what moved."""

    __tablename__ = "customer_merge"
    __table_args__ = (
        CheckConstraint("survivor_id <> merged_id", name="distinct"),
        Index("ix_customer_merge_survivor_id", "survivor_id", "merged_at"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    survivor_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customer.id"), nullable=False)
    merged_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customer.id"), nullable=False)
    merged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    merged_by_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("app_user.id"))
    # Counts of rows moved per table, and the merged customer as it was.
    moved: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    merged_snapshot: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
