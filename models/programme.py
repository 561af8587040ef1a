"""Grade programmes: rules in dated versions, memberships, the qualifying ledger,
history, overrides, fees and the training quota."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger, CheckConstraint, DateTime, ForeignKey, Identity, Index, Integer, SmallInteger, Text, UniqueConstraint, text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MONEY, RATE, Base, check_in

NOW = text("now()")


class ProgrammeKind(enum.StrEnum):
    AGENT = "agent"
    MEMBER = "member"


class WindowKind(enum.StrEnum):
    CALENDAR_YEAR = "calendar_year"
    ANNIVERSARY = "anniversary"
    ROLLING_MONTHS = "rolling_months"


class BenefitPeriodKind(enum.StrEnum):
    """The span a benefit quota is granted for, whatever the qualification window is."""

    MEMBERSHIP_YEAR = "membership_year"  # years from the joining date
    CALENDAR_YEAR = "calendar_year"


class DemotionPolicy(enum.StrEnum):
    NEVER = "never"
    AT_PERIOD_END = "at_period_end"


class RuleVersionStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class TierChangeReason(enum.StrEnum):
    FEE_PAID = "fee_paid"
    PROMOTED = "promoted"
    DEMOTED = "demoted"
    OVERRIDE = "override"
    EXPIRED = "expired"
    REFUND = "refund"
    # The earned tier changed (by volume, either way) while the tier in force did not: a
    # fee or a floor holds it. The row's earned_rank and explanation say from what to what.
    EARNED = "earned"
    # A return or cancellation left a promotion's window below its threshold (tiers.ledger).
    PROMOTION_UNDONE = "promotion_undone"


class OverrideKind(enum.StrEnum):
    FLOOR = "floor"  # the tier is at least this
    LOCK = "lock"  # the tier is exactly this


class Programme(Base):
    __tablename__ = "programme"
    __table_args__ = (
        CheckConstraint(check_in("kind", ProgrammeKind), name="kind"),
        CheckConstraint(check_in("window_kind", WindowKind), name="window_kind"),
        CheckConstraint(check_in("demotion_policy", DemotionPolicy), name="demotion_policy"),
        CheckConstraint(check_in("benefit_period", BenefitPeriodKind), name="benefit_period"),
        CheckConstraint("(window_kind = 'rolling_months') = (window_months IS NOT NULL)", name="window_months"),
        CheckConstraint("window_months BETWEEN 1 AND 36", name="window_months_range"),
        CheckConstraint("fee_term_months BETWEEN 1 AND 120", name="fee_term_months"),
        CheckConstraint("max_drop >= 0 AND grace_days >= 0", name="non_negative"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        Index("uq_programme_name", text("lower(name)"), unique=True),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    currency: Mapped[str] = mapped_column(Text, nullable=False)
    time_zone: Mapped[str] = mapped_column(Text, nullable=False)
    window_kind: Mapped[str] = mapped_column(Text, nullable=False)
    window_months: Mapped[int | None] = mapped_column(SmallInteger)
    fee_term_months: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    demotion_policy: Mapped[str] = mapped_column(Text, nullable=False)
    max_drop: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default=text("1"))
    grace_days: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default=text("0"))
    benefit_period: Mapped[str] = mapped_column(Text, nullable=False, server_default=BenefitPeriodKind.MEMBERSHIP_YEAR.value)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=NOW)
    # Archived: readable, out of default lists, takes no fee payments.
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RuleVersion(Base):
    """Tiers of a programme from `effective_from` until the next published version's.
    A published version is never edited."""

    __tablename__ = "rule_version"
    __table_args__ = (
        CheckConstraint(check_in("status", RuleVersionStatus), name="status"),
        CheckConstraint("(status = 'published') = (effective_from IS NOT NULL)", name="published_effective"),
        UniqueConstraint("programme_id", "number", name="uq_rule_version_programme_id_number"),
        Index("uq_rule_version_programme_id_effective_from", "programme_id", "effective_from", unique=True,
              postgresql_where=text("status = 'published'")),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    programme_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("programme.id"), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default=RuleVersionStatus.DRAFT.value)
    effective_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=NOW)


class Tier(Base):
    __tablename__ = "tier"
    __table_args__ = (
        UniqueConstraint("rule_version_id", "rank", name="uq_tier_rule_version_id_rank"),
        UniqueConstraint("rule_version_id", "code", name="uq_tier_rule_version_id_code"),
        CheckConstraint("rank >= 1", name="rank"),
        CheckConstraint("discount_rate >= 0 AND discount_rate < 1", name="discount_rate"),
        CheckConstraint("entry_fee >= 0 AND training_quota >= 0", name="non_negative"),
        CheckConstraint("retention_threshold <= promotion_threshold AND retention_threshold >= 0", name="thresholds"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    rule_version_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("rule_version.id"), nullable=False)
    rank: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    code: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    entry_fee: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    discount_rate: Mapped[Decimal] = mapped_column(RATE, nullable=False)
    training_quota: Mapped[int] = mapped_column(Integer, nullable=False)
    promotion_threshold: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    retention_threshold: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    # Benefits besides training, each a quota per benefit period:
    # [{"code": "comarketing_days", "name": "Co-marketing fund days", "quantity": 4}, ...]
    # (rows written before codes existed have no "code": tiers.rules derives it from the name)
    extra_benefits: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))


class Membership(Base):
    """An account in a programme. `earned_rank` is the tier earned by volume (0: none),
    held at least until `earned_until`; the tier in force also counts fee terms and
    overrides (tiers.engine.effective_rank)."""

    __tablename__ = "membership"
    __table_args__ = (
        UniqueConstraint("account_id", "programme_id", name="uq_membership_account_id_programme_id"),
        Index("ix_membership_programme_id_id", "programme_id", "id"),
        CheckConstraint("earned_rank >= 0 AND tier_rank >= 0", name="ranks"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    account_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customer.id"), nullable=False)
    programme_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("programme.id"), nullable=False)
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    earned_rank: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default=text("0"))
    earned_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The tier in force as last recorded in tier_change (for lists and indexes).
    tier_rank: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default=text("0"))
    # End of the last window an assessment closed, so a second run changes nothing.
    assessed_through: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=NOW)


class FeePayment(Base):
    """An entry fee paid for a tier: the tier holds by fee over [term_start, term_end)
    unless refunded. An upgrade within a lower tier's term is paid net of the unexpired
    part of that lower payment (`credit_amount`, from `credited_payment_id`); the lower
    payment itself is never rewritten."""

    __tablename__ = "fee_payment"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount"),
        CheckConstraint("credit_amount >= 0", name="credit_amount"),
        CheckConstraint("(credit_amount > 0) = (credited_payment_id IS NOT NULL)", name="credit_source"),
        Index("ix_fee_payment_credited_payment_id", "credited_payment_id",
              postgresql_where=text("credited_payment_id IS NOT NULL")),
        CheckConstraint("term_end > term_start", name="term"),
        Index("ix_fee_payment_membership_id_term_start", "membership_id", "term_start"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    membership_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("membership.id"), nullable=False)
    tier_rank: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    currency: Mapped[str] = mapped_column(Text, nullable=False)
    term_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    term_end: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refund_reason: Mapped[str | None] = mapped_column(Text)
    credit_amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False, server_default=text("0"))
    credited_payment_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("fee_payment.id"))
    paid_by_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("app_user.id"))


class QualifyingEntry(Base):
    """Append-only ledger of qualifying volume: orders add, returns and cancellations
    subtract, adjustments either. One entry per source, whatever replays."""

    __tablename__ = "qualifying_entry"
    __table_args__ = (
        UniqueConstraint("membership_id", "source", name="uq_qualifying_entry_membership_id_source"),
        # Volume of a member in a window: an index range per member.
        Index("ix_qualifying_entry_membership_id_occurred_at", "membership_id", "occurred_at", postgresql_include=["amount"]),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    membership_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("membership.id"), nullable=False)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # "order:12", "return:7", "cancel:12", "adjustment:<key>"
    source: Mapped[str] = mapped_column(Text, nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=NOW)


class TierChange(Base):
    """Append-only history: every change of the tier in force or of the earned tier, with
    its explanation. `earned_rank`/`earned_until` are the earned state from `at` on (every
    row carries it, changed or not), so the earned tier at any instant is the latest row's
    at or before it (tiers.instants)."""

    __tablename__ = "tier_change"
    __table_args__ = (
        CheckConstraint(check_in("reason", TierChangeReason), name="reason"),
        Index("ix_tier_change_membership_id_at", "membership_id", "at", "id"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    membership_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("membership.id"), nullable=False)
    from_rank: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    to_rank: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    rule_version_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("rule_version.id"))
    window_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    qualifying_volume: Mapped[Decimal | None] = mapped_column(MONEY)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    actor_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("app_user.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    earned_rank: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default=text("0"))
    earned_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TierOverride(Base):
    __tablename__ = "tier_override"
    __table_args__ = (
        CheckConstraint(check_in("kind", OverrideKind), name="kind"),
        Index("ix_tier_override_membership_id", "membership_id"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    membership_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("membership.id"), nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    tier_rank: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    actor_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("app_user.id"))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=NOW)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BenefitGrant(Base):
    """Units of a benefit granted for one window (the tier's quota, an upgrade's top-up)."""

    __tablename__ = "benefit_grant"
    __table_args__ = (Index("ix_benefit_grant_membership_id_window_start", "membership_id", "benefit", "window_start"),)
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    membership_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("membership.id"), nullable=False)
    benefit: Mapped[str] = mapped_column(Text, nullable=False)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    tier_rank: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=NOW)


class TrainingBooking(Base):
    __tablename__ = "training_booking"
    __table_args__ = (
        CheckConstraint("status IN ('booked', 'cancelled')", name="status"),
        Index("ix_training_booking_membership_id_session_at", "membership_id", "session_at"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    membership_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("membership.id"), nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    session_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="booked")
    booked_by_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("app_user.id"))
    # The instant the booking was made (the writer's `at`), as figures at a past instant read it.
    booked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=NOW)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=NOW)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BenefitUsage(Base):
    """Append-only use of a benefit: +1 per training booking, -1 when a booking is
    cancelled in time; other benefits are used by a usage record (quantity, note, actor)."""

    __tablename__ = "benefit_usage"
    __table_args__ = (
        UniqueConstraint("booking_id", "quantity", name="uq_benefit_usage_booking_id_quantity"),
        Index("ix_benefit_usage_membership_id_window_start", "membership_id", "benefit", "window_start"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    membership_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("membership.id"), nullable=False)
    benefit: Mapped[str] = mapped_column(Text, nullable=False)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    booking_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("training_booking.id"))
    note: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("app_user.id"))
    # The instant of the use (the writer's `at`), as figures at a past instant read it.
    used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=NOW)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=NOW)
