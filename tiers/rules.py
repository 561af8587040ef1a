"""Tier rules as plain values, and their validation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kernel.errors import Code, FieldError

TRAINING = "training"
TRAINING_NAME = "Training sessions"
MAX_QUANTITY = 10_000
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class BenefitRule:
    """A quota a tier grants per benefit period: `quantity` units of `code`."""

    code: str
    name: str
    quantity: int


def benefit_code_of(name: str) -> str:
    """The code of a benefit declared by name only (inputs and rows from before codes):
    "Co-marketing fund days" -> "co_marketing_fund_days"."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")[:40]


@dataclass(frozen=True)
class TierRule:
    rank: int
    code: str
    name: str
    entry_fee: Decimal
    discount_rate: Decimal
    training_quota: int
    promotion_threshold: Decimal
    retention_threshold: Decimal
    extra_benefits: tuple[BenefitRule, ...] = ()

    @property
    def benefits(self) -> tuple[BenefitRule, ...]:
        """Every quota of the tier: training (declared by `training_quota`) and the others,
        granted, used and topped up by the same code (tiers.benefits)."""
        return (BenefitRule(TRAINING, TRAINING_NAME, self.training_quota), *self.extra_benefits)

    def benefit(self, code: str) -> BenefitRule | None:
        return next((b for b in self.benefits if b.code == code), None)


@dataclass(frozen=True)
class Rules:
    """One rule version's tiers, by rank (1 = lowest)."""

    version_id: int | None
    tiers: tuple[TierRule, ...]

    def tier(self, rank: int) -> TierRule | None:
        return next((t for t in self.tiers if t.rank == rank), None)

    def by_code(self, code: str) -> TierRule | None:
        return next((t for t in self.tiers if t.code.lower() == code.lower()), None)

    @property
    def top_rank(self) -> int:
        return max((t.rank for t in self.tiers), default=0)


@dataclass(frozen=True)
class ProgrammeRules:
    """A programme's settings that the engine needs."""

    window_kind: str
    time_zone: str
    window_months: int | None
    demotion_policy: str
    max_drop: int
    grace_days: int
    fee_term_months: int = 12


def validate_tiers(tiers: list[TierRule]) -> list[FieldError]:
    """Everything wrong with a set of tiers, each error naming the tier (tiers.<i>.<field>)."""
    errors: list[FieldError] = []

    def fail(i: int, name: str, message: str, code: str = Code.INVALID) -> None:
        errors.append(FieldError(f"tiers.{i}.{name}", message, code))

    if not tiers:
        return [FieldError("tiers", "A rule version has at least one tier.", Code.REQUIRED)]
    if len(tiers) > 20:
        return [FieldError("tiers", "At most 20 tiers.", Code.TOO_MANY)]
    seen_ranks: set[int] = set()
    seen_codes: set[str] = set()
    for i, tier in enumerate(tiers):
        if tier.rank < 1 or tier.rank > 100:
            fail(i, "rank", "Ranks are 1 (lowest) to 100.", Code.OUT_OF_RANGE)
        if tier.rank in seen_ranks:
            fail(i, "rank", f"Rank {tier.rank} is used twice.", "duplicate_rank")
        seen_ranks.add(tier.rank)
        if not tier.code.strip() or len(tier.code) > 20:
            fail(i, "code", "A code is 1 to 20 characters.", Code.REQUIRED if not tier.code.strip() else Code.TOO_LONG)
        elif tier.code.lower() in seen_codes:
            fail(i, "code", f"Code {tier.code} is used twice.", "duplicate_code")
        seen_codes.add(tier.code.lower())
        if not tier.name.strip():
            fail(i, "name", "A tier needs a name.", Code.REQUIRED)
        if not Decimal(0) <= tier.discount_rate < Decimal(1):
            fail(i, "discount_rate", "A discount rate is from 0 up to, not including, 1.", Code.OUT_OF_RANGE)
        elif tier.discount_rate != tier.discount_rate.quantize(Decimal("0.0001")):
            fail(i, "discount_rate", "A discount rate has at most four decimals (0.1250).", Code.INVALID)
        for name in ("entry_fee", "promotion_threshold", "retention_threshold"):
            value = getattr(tier, name)
            if value < 0:
                fail(i, name, "Cannot be negative.", Code.OUT_OF_RANGE)
        if tier.training_quota < 0 or tier.training_quota > MAX_QUANTITY:
            fail(i, "training_quota", "A quota is from 0 to 10,000.", Code.OUT_OF_RANGE)
        if tier.retention_threshold > tier.promotion_threshold:
            fail(i, "retention_threshold", "The retention threshold cannot be above the promotion threshold.",
                 "retention_above_promotion")
        errors += _benefit_errors(i, tier.extra_benefits)
    ordered = sorted((t for t in tiers), key=lambda t: t.rank)
    for lower, higher in zip(ordered, ordered[1:]):
        i = tiers.index(higher)
        if higher.promotion_threshold <= lower.promotion_threshold:
            fail(i, "promotion_threshold", "Promotion thresholds increase with rank.", "thresholds_not_increasing")
        if higher.retention_threshold <= lower.retention_threshold:
            fail(i, "retention_threshold", "Retention thresholds increase with rank.", "thresholds_not_increasing")
    return errors


def _benefit_errors(i: int, benefits: tuple[BenefitRule, ...]) -> list[FieldError]:
    errors: list[FieldError] = []
    seen = {TRAINING}  # training is declared by training_quota
    if len(benefits) > 20:
        return [FieldError(f"tiers.{i}.extra_benefits", "At most 20 benefits per tier.", Code.TOO_MANY)]
    for j, benefit in enumerate(benefits):
        at = f"tiers.{i}.extra_benefits.{j}"
        if not _CODE.match(benefit.code):
            errors.append(FieldError(f"{at}.code", "A benefit code is 1 to 40 lower-case letters, digits and _, "
                                     "starting with a letter.", Code.INVALID))
        elif benefit.code in seen:
            message = ("Training is declared by trainingQuota." if benefit.code == TRAINING
                       else f"Benefit {benefit.code} is declared twice.")
            errors.append(FieldError(f"{at}.code", message, "duplicate_code"))
        seen.add(benefit.code)
        if not benefit.name.strip() or len(benefit.name) > 100:
            errors.append(FieldError(f"{at}.name", "A benefit has a name of 1 to 100 characters.", Code.REQUIRED))
        if not 0 <= benefit.quantity <= MAX_QUANTITY:
            errors.append(FieldError(f"{at}.quantity", "A quantity is from 0 to 10,000.", Code.OUT_OF_RANGE))
    return errors


def benefit_rule(name: str, quantity: int, code: str | None = None) -> BenefitRule:
    """A benefit from input or a stored row; without a code, the code comes from the name."""
    name = name.strip()
    return BenefitRule((code or "").strip().lower() or benefit_code_of(name), name, int(quantity))


def extra_benefits_of(raw: Any) -> tuple[BenefitRule, ...]:
    return tuple(benefit_rule(item["name"], item["quantity"], item.get("code")) for item in raw or [])


def extra_benefits_row(benefits: tuple[BenefitRule, ...]) -> list[dict[str, Any]]:
    return [{"code": b.code, "name": b.name, "quantity": b.quantity} for b in benefits]


