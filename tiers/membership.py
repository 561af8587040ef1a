"""Memberships: the tier in force, enrolment by fee, refunds, overrides, history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from kernel.errors import Code, DomainError
from kernel.money import round_money
from kernel.references import get_row, live
from kernel.validation import Checker
from models import (
    Customer, CustomerClassification, FeePayment, Membership, OverrideKind, Programme, ProgrammeKind,
    TierChange, TierChangeReason, TierOverride,
)
from tiers.benefits import top_up
from tiers.engine import effective_rank, unexpired_credit
from tiers.errors import MembershipErrorCode
from tiers.programmes import rules_in_force
from tiers.rules import Rules
from tiers.windows import WindowRule, add_months


def window_rule_of(programme: Programme) -> WindowRule:
    return WindowRule(programme.window_kind, programme.time_zone, programme.window_months, programme.grace_days)


@dataclass(frozen=True)
class TierState:
    """How the tier in force at an instant is made up."""

    effective: int
    earned: int
    fee: int
    floor: int
    lock: int | None


def fee_rank_at(membership_id: Any, at: datetime) -> Select:
    """The highest tier a fee term paid for covers at `at` (0: none)."""
    return select(func.coalesce(func.max(FeePayment.tier_rank), 0)).where(
        FeePayment.membership_id == membership_id, FeePayment.term_start <= at, FeePayment.term_end > at,
        or_(FeePayment.refunded_at.is_(None), FeePayment.refunded_at > at),
    )


def _live_override(membership_id: Any, at: datetime) -> Any:
    return and_(
        TierOverride.membership_id == membership_id, TierOverride.starts_at <= at,
        or_(TierOverride.expires_at.is_(None), TierOverride.expires_at > at),
        or_(TierOverride.revoked_at.is_(None), TierOverride.revoked_at > at),
    )


def floor_rank_at(membership_id: Any, at: datetime) -> Select:
    """The highest live floor at `at` (0: none)."""
    return select(func.coalesce(func.max(TierOverride.tier_rank), 0)).where(
        _live_override(membership_id, at), TierOverride.kind == OverrideKind.FLOOR)


def lock_rank_at(membership_id: Any, at: datetime) -> Select:
    """The rank of the latest live lock at `at` (no row: none)."""
    return (select(TierOverride.tier_rank).where(_live_override(membership_id, at), TierOverride.kind == OverrideKind.LOCK)
            .order_by(TierOverride.starts_at.desc(), TierOverride.id.desc()).limit(1))


async def tier_state(session: AsyncSession, membership: Membership, at: datetime, rules: Rules | None) -> TierState:
    """Fee terms, overrides and the earned rank at `at`, combined (clamped to the tiers
    the rules in force have)."""
    fee = (await session.execute(fee_rank_at(membership.id, at))).scalar_one()
    floor = (await session.execute(floor_rank_at(membership.id, at))).scalar_one()
    lock = (await session.execute(lock_rank_at(membership.id, at))).scalar_one_or_none()
    return combine_state(membership, rules, fee, floor, lock)


def combine_state(membership: Membership, rules: Rules | None, fee: int, floor: int, lock: int | None) -> TierState:
    """The tier in force from its sources, clamped to the tiers the rules have."""
    top = rules.top_rank if rules else 0
    earned = min(membership.earned_rank, top)
    effective = min(effective_rank(earned, fee, floor, lock), top)
    return TierState(effective, earned, min(fee, top), min(floor, top), None if lock is None else min(lock, top))


async def record_change(session: AsyncSession, membership: Membership, *, to_rank: int, reason: TierChangeReason,
                        rules: Rules | None, at: datetime, actor_id: int | None, window: Any = None,
                        volume: Decimal | None = None, explanation: dict[str, Any] | None = None) -> TierChange | None:
    """Appends a tier_change row when the tier in force changes (or the earned tier does,
    which the explanation then says), and tops up benefits for the current benefit period."""
    change = TierChange(
        membership_id=membership.id, from_rank=membership.tier_rank, to_rank=to_rank, reason=reason.value,
        rule_version_id=rules.version_id if rules else None, at=at, actor_id=actor_id,
        window_start=window.start if window else None, window_end=window.end if window else None,
        qualifying_volume=volume, explanation={**(explanation or {}), "earned_rank": membership.earned_rank},
    )
    session.add(change)
    membership.tier_rank = to_rank
    await session.flush()
    if rules is not None:
        await top_up(session, membership, at, rules)
    return change


async def refresh_tier(session: AsyncSession, membership: Membership, programme: Programme, at: datetime, *,
                       reason: TierChangeReason, actor_id: int | None, earned_changed: bool = False, **details: Any) -> None:
    rules = await rules_in_force(session, programme.id, at)
    state = await tier_state(session, membership, at, rules)
    if state.effective != membership.tier_rank or earned_changed:
        await record_change(session, membership, to_rank=state.effective, reason=reason, rules=rules, at=at,
                            actor_id=actor_id, **details)


async def upgrade_credit(session: AsyncSession, membership: Membership, rank: int,
                         at: datetime) -> tuple[Decimal, FeePayment | None]:
    """What paying for tier `rank` at `at` is credited: the unexpired part of a live fee
    payment for a lower tier (the one worth most, when several are live), if `rank` is
    above the tier the fees in force hold. A payment's value is what bought its term
    (amount and its own credit); one that a live payment was credited already gives
    nothing again."""
    if rank <= (await session.execute(fee_rank_at(membership.id, at))).scalar_one():
        return Decimal("0.00"), None
    crediting = aliased(FeePayment)
    candidates = (await session.execute(
        select(FeePayment).where(
            FeePayment.membership_id == membership.id, FeePayment.tier_rank < rank, FeePayment.term_start <= at,
            FeePayment.term_end > at, or_(FeePayment.refunded_at.is_(None), FeePayment.refunded_at > at),
            ~select(crediting.id).where(crediting.credited_payment_id == FeePayment.id,
                                        crediting.refunded_at.is_(None)).exists())
        .order_by(FeePayment.id).with_for_update()
    )).scalars().all()
    best: tuple[Decimal, FeePayment | None] = (Decimal("0.00"), None)
    for payment in candidates:
        credit = unexpired_credit(payment.amount + payment.credit_amount, payment.term_start, payment.term_end, at)
        if credit > best[0]:
            best = (credit, payment)
    return best


async def enroll(session: AsyncSession, *, account_id: int, programme_id: int, tier_code: str, amount: Decimal,
                 currency: str, at: datetime, actor_id: int | None) -> tuple[Membership, FeePayment]:
    """Pays a tier's entry fee: the account becomes (or stays) a member and holds the tier
    by fee for the programme's fee term. An upgrade within a lower tier's fee term is
    due the fee less that term's unexpired part (`upgrade_credit`); a payment below what
    is due is refused, naming the amount due."""
    check = Checker()
    amount = check.money("fee_payment.amount", amount)
    currency = check.currency("fee_payment.currency", currency)
    check.aware("fee_payment.paid_at", at)
    check.done()
    programme = await get_row(session, Programme, programme_id)
    if programme is None:
        raise DomainError.one("programme_id", "No programme has this ID.", Code.NOT_FOUND)
    if programme.archived_at is not None:
        raise DomainError.one("programme_id", f"{programme.name} is archived and takes no enrolments or fees.",
                              Code.ARCHIVED)
    account = await live(session, Customer, account_id, "account_id", "customer")
    if programme.kind == ProgrammeKind.AGENT and account.classification != CustomerClassification.PARTNER:
        raise DomainError.one("account_id", f"{account.name} is not a partner; agent programmes take partners.",
                              MembershipErrorCode.NOT_A_PARTNER)
    rules = await rules_in_force(session, programme_id, at)
    if rules is None:
        raise DomainError.one("programme_id", "The programme has no published rules in force at that time.",
                              MembershipErrorCode.NO_RULES_IN_FORCE)
    tier = rules.by_code(tier_code or "")
    if tier is None:
        known = ", ".join(t.code for t in rules.tiers)
        raise DomainError.one("tier_code", f"No tier {tier_code!r} in the rules in force (tiers: {known}).",
                              MembershipErrorCode.UNKNOWN_TIER)
    if currency != programme.currency:
        raise DomainError.one("fee_payment.currency", f"The programme's fees are in {programme.currency}.",
                              MembershipErrorCode.CURRENCY_MISMATCH)
    membership = (await session.execute(
        select(Membership).where(Membership.account_id == account_id, Membership.programme_id == programme_id)
        .with_for_update()
    )).scalar_one_or_none()
    credit, credited = (await upgrade_credit(session, membership, tier.rank, at) if membership is not None
                        else (Decimal("0.00"), None))
    due = max(round_money(tier.entry_fee - credit), Decimal("0.00"))
    if amount < due:
        credited_note = f" ({tier.entry_fee} {currency} less {credit} {currency} unexpired of the lower fee)" if credit else ""
        raise DomainError.one("fee_payment.amount", f"{due} {currency} is due for {tier.name}{credited_note}; "
                              f"{round_money(due - amount)} {currency} is missing.", MembershipErrorCode.FEE_TOO_LOW,
                              details={"amount_due": due})
    if membership is None:
        membership = Membership(account_id=account_id, programme_id=programme_id, joined_at=at)
        session.add(membership)
        await session.flush()
        await session.refresh(membership)
    term_end = add_months(at, programme.fee_term_months)
    payment = FeePayment(membership_id=membership.id, tier_rank=tier.rank, amount=amount, currency=currency,
                         term_start=at, term_end=term_end, paid_by_id=actor_id, credit_amount=credit,
                         credited_payment_id=credited.id if credited is not None else None)
    session.add(payment)
    await session.flush()
    explanation = {"fee_payment": payment.id, "tier": tier.code, "term_end": term_end.isoformat()}
    if credited is not None:
        explanation.update(credit=str(credit), credited_payment=credited.id)
    await refresh_tier(session, membership, programme, at, reason=TierChangeReason.FEE_PAID, actor_id=actor_id,
                       explanation=explanation)
    return membership, payment


async def refund_fee(session: AsyncSession, fee_payment_id: int, *, reason: str | None, at: datetime,
                     actor_id: int | None) -> tuple[Membership, FeePayment]:
    """A refund ends the fee term at `at`; the tier in force is recomputed."""
    check = Checker()
    reason = check.text("reason", reason, max_len=500)
    check.aware("at", at)
    check.done()
    payment = await get_row(session, FeePayment, fee_payment_id, lock=True)
    if payment is None:
        raise DomainError.one("id", "No fee payment has this ID.", Code.NOT_FOUND)
    if payment.refunded_at is not None:
        raise DomainError.one("id", "This fee was refunded already.", MembershipErrorCode.ALREADY_REFUNDED)
    upgrade = (await session.execute(select(FeePayment.id).where(
        FeePayment.credited_payment_id == payment.id, FeePayment.refunded_at.is_(None)).limit(1))).scalar_one_or_none()
    if upgrade is not None:
        raise DomainError.one("id", "This fee's unexpired part was credited to an upgrade; refund that payment first.",
                              MembershipErrorCode.CREDITED, related=("FeePayment", upgrade))
    membership = await get_row(session, Membership, payment.membership_id, lock=True)
    programme = await get_row(session, Programme, membership.programme_id)
    payment.refunded_at = at
    payment.refund_reason = reason
    await session.flush()
    await refresh_tier(session, membership, programme, at, reason=TierChangeReason.REFUND, actor_id=actor_id,
                       explanation={"fee_payment": payment.id})
    return membership, payment


async def set_override(session: AsyncSession, membership_id: int, *, kind: OverrideKind, tier_code: str,
                       reason: str, expires_at: datetime | None, at: datetime, actor_id: int | None) -> TierOverride:
    check = Checker()
    reason = check.text("reason", reason, max_len=500, required=True)
    check.aware("expires_at", expires_at)
    if expires_at is not None and expires_at <= at:
        check.fail("expires_at", "An override expires in the future.", Code.INVALID)
    check.done()
    membership = await get_row(session, Membership, membership_id, lock=True)
    if membership is None:
        raise DomainError.one("membership_id", "No membership has this ID.", Code.NOT_FOUND)
    programme = await get_row(session, Programme, membership.programme_id)
    rules = await rules_in_force(session, programme.id, at)
    tier = rules.by_code(tier_code or "") if rules else None
    if tier is None:
        raise DomainError.one("tier_code", f"No tier {tier_code!r} in the rules in force.", MembershipErrorCode.UNKNOWN_TIER)
    override = TierOverride(membership_id=membership.id, kind=kind.value, tier_rank=tier.rank, reason=reason,
                            actor_id=actor_id, starts_at=at, expires_at=expires_at)
    session.add(override)
    await session.flush()
    await refresh_tier(session, membership, programme, at, reason=TierChangeReason.OVERRIDE, actor_id=actor_id,
                       explanation={"override": override.id, "kind": kind.value, "tier": tier.code, "reason": reason})
    return override


async def revoke_override(session: AsyncSession, override_id: int, *, at: datetime, actor_id: int | None) -> TierOverride:
    override = await get_row(session, TierOverride, override_id, lock=True)
    if override is None:
        raise DomainError.one("id", "No override has this ID.", Code.NOT_FOUND)
    if override.revoked_at is not None or (override.expires_at is not None and override.expires_at <= at):
        raise DomainError.one("id", "This override is no longer in force.", Code.NO_CHANGE)
    override.revoked_at = at
    membership = await get_row(session, Membership, override.membership_id, lock=True)
    programme = await get_row(session, Programme, membership.programme_id)
    await refresh_tier(session, membership, programme, at, reason=TierChangeReason.OVERRIDE, actor_id=actor_id,
                       explanation={"override_revoked": override.id})
    return override


async def tier_at(session: AsyncSession, membership_id: int, at: datetime) -> TierChange | None:
    """The history row in force at `at` (its to_rank is the tier then); None before any."""
    return (await session.execute(
        select(TierChange).where(TierChange.membership_id == membership_id, TierChange.at <= at)
        .order_by(TierChange.at.desc(), TierChange.id.desc()).limit(1)
    )).scalar_one_or_none()

