"""Memberships: the tier in force, enrolment by fee, refunds, overrides, history."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from events.memberships import TIER_EVENTS, FeePaid, FeeRefunded, MembershipEnrolled, MembershipLapsed, lapses
from events.outbox import Emission, emit_all
from kernel.errors import Code, DomainError
from kernel.money import round_money
from kernel.references import get_row, live, lock_key, ref
from kernel.validation import Checker
from models import (
    Customer, CustomerClassification, FeePayment, Membership, OverrideKind, Programme, ProgrammeKind,
    TierChange, TierChangeReason, TierOverride,
)
from tiers.benefits import top_up
from tiers.engine import unexpired_credit
from tiers.instants import TierState
from tiers.errors import MembershipErrorCode
from tiers.programmes import rules_in_force
from tiers.rules import Rules
from tiers.windows import WindowRule, add_months


def instant_after_lock(at: datetime | None) -> datetime:
    """The instant of a tier change: the caller's explicit (past) instant, or, for a change
    "now" (None), the clock read after the caller took the membership lock. Read before the
    lock, a writer that waited would date its change before the one it waited for and
    decide from a state it never saw (attack report: 40 concurrent overrides, 144 events
    whose `fromTier` was not the previous `toTier`). Not SQL now(): that is the start of
    the transaction, before the wait."""
    return at if at is not None else datetime.now(timezone.utc)


async def lock_membership(session: AsyncSession, membership_id: int) -> Membership | None:
    """The membership row, locked until the transaction ends, with its attributes read
    again (a copy already in the session would otherwise keep what it read before the
    wait)."""
    return (await session.execute(
        select(Membership).where(Membership.id == membership_id).with_for_update()
        .execution_options(populate_existing=True))).scalar_one_or_none()


def window_rule_of(programme: Programme) -> WindowRule:
    return WindowRule(programme.window_kind, programme.time_zone, programme.window_months, programme.grace_days)


# The one SQL answer to "the tier in force at t" (migration 0008; tiers.instants is the
# same rule as a pure function).
_TIER_STATE_AT = text("SELECT effective, earned, fee, floor, lock FROM tier_state_at(:membership, :at, :earned)")


async def tier_state(session: AsyncSession, membership: Membership, at: datetime, rules: Rules | None = None, *,
                     earned: int | None = None) -> TierState:
    """The tier in force at `at` and its sources, from the stored history. `earned` is an
    earned rank being written (a promotion not yet in history) to combine instead of the
    history's. (`rules` is no longer needed: the function clamps to the version in force.)"""
    row = (await session.execute(_TIER_STATE_AT, {"membership": membership.id, "at": at, "earned": earned})).one()
    return TierState(*row)


_EARNED_AT = text("SELECT earned_rank, earned_until FROM tier_change WHERE membership_id = :membership AND at <= :at "
                  "ORDER BY at DESC, id DESC LIMIT 1")
_EARNING = {TierChangeReason.PROMOTED, TierChangeReason.DEMOTED, TierChangeReason.EARNED,
            TierChangeReason.PROMOTION_UNDONE}


async def earned_state_at(session: AsyncSession, membership_id: int, at: datetime) -> tuple[int, datetime | None]:
    """The earned rank and its hold at `at`, from history ((0, None) before any row)."""
    row = (await session.execute(_EARNED_AT, {"membership": membership_id, "at": at})).one_or_none()
    return (row[0], row[1]) if row else (0, None)


async def latest_change_at(session: AsyncSession, membership_id: int) -> datetime | None:
    return (await session.execute(select(func.max(TierChange.at)).where(TierChange.membership_id == membership_id))).scalar_one()


async def record_change(session: AsyncSession, membership: Membership, *, from_rank: int, to_rank: int,
                        reason: TierChangeReason, rules: Rules | None, at: datetime, actor_id: int | None,
                        window: Any = None, volume: Decimal | None = None, explanation: dict[str, Any] | None = None,
                        earned: tuple[int, datetime | None] | None = None, cached_rank: int | None = None) -> TierChange:
    """Appends a tier_change row saying the tier in force at `at` went from `from_rank` to
    `to_rank` (or that the earned tier changed, which the explanation then says), and tops
    up benefits for the current benefit period.

    Every row carries the earned state from `at` on: `earned` when given, else the
    membership's (just changed) for a promotion or demotion, else the unchanged one the
    history has at `at` (so a row written into the past does not carry today's).
    `cached_rank` is the tier in force at the latest history row's instant (the cache,
    `membership.tier_rank`), when this row is not the latest; else it is `to_rank`."""
    if earned is None:
        earned = ((membership.earned_rank, membership.earned_until) if reason in _EARNING
                  else await earned_state_at(session, membership.id, at))
    change = TierChange(
        membership_id=membership.id, from_rank=from_rank, to_rank=to_rank, reason=reason.value,
        rule_version_id=rules.version_id if rules else None, at=at, actor_id=actor_id,
        window_start=window.start if window else None, window_end=window.end if window else None,
        qualifying_volume=volume, explanation={**(explanation or {}), "earned_rank": earned[0]},
        earned_rank=earned[0], earned_until=earned[1],
    )
    session.add(change)
    membership.tier_rank = to_rank if cached_rank is None else cached_rank
    await session.flush()
    await emit_all(session, tier_emissions(
        change_id=change.id, membership_id=membership.id, account_id=membership.account_id,
        programme_id=membership.programme_id, reason=reason, from_rank=from_rank, to_rank=to_rank,
        earned_rank=change.earned_rank, at=at, explanation=change.explanation, rules=rules))
    if rules is not None:
        await top_up(session, membership, at, rules, rank=to_rank)
    return change


def tier_emissions(*, change_id: int, membership_id: int, account_id: int, programme_id: int,
                   reason: TierChangeReason, from_rank: int, to_rank: int, earned_rank: int, at: datetime,
                   explanation: dict[str, Any], rules: Rules | None) -> list[Emission]:
    """The events of one history row, whichever path wrote it (record_change, the bulk
    assessment): its tier event (one type per reason), and `membership.lapsed` when it
    leaves the member no tier. For the member's account."""
    code = (lambda rank: (t.code if (t := rules.tier(rank)) else None) if rules else None)
    member = {"membership": membership_id, "account": account_id, "programme": programme_id}
    out = [Emission(TIER_EVENTS[reason](
        **member, change=change_id, from_rank=from_rank, to_rank=to_rank, from_tier=code(from_rank),
        to_tier=code(to_rank), earned_rank=earned_rank, at=at, explanation=explanation), membership_id, at, account_id)]
    if lapses(from_rank, to_rank):
        out.append(Emission(MembershipLapsed(**member, change=change_id, from_rank=from_rank, from_tier=code(from_rank),
                                             reason=reason, at=at), membership_id, at, account_id))
    return out


def history_emissions(rows: Any, programme_id: int, rules: Rules | None) -> list[Emission]:
    """The events of history rows a set-based statement wrote (tier_change rows as JSON,
    with the member's `account_id`), in their order."""
    rows = json.loads(rows) if isinstance(rows, str) else rows
    return [e for r in rows for e in tier_emissions(
        change_id=r["id"], membership_id=r["membership_id"], account_id=r["account_id"], programme_id=programme_id,
        reason=TierChangeReason(r["reason"]), from_rank=r["from_rank"], to_rank=r["to_rank"],
        earned_rank=r["earned_rank"], at=datetime.fromisoformat(r["at"]), explanation=r["explanation"], rules=rules)]


# One statement for a write: the tier in force at `at` after it (with the earned rank
# being written), before it (the history's earned rank at `at`: right for a change of
# the earned tier alone), and, when `at` is before the latest history row, the tier in
# force at that row's instant (the cache of "as last recorded").
_STATES_AT = text("""
    SELECT a.effective, a.earned, a.fee, a.floor, a.lock, b.effective, b.earned, b.fee, b.floor, b.lock, c.effective
    FROM tier_state_at(:membership, :at, :earned) a
    CROSS JOIN tier_state_at(:membership, :at) b
    CROSS JOIN (SELECT max(h.at) AS at FROM tier_change h WHERE h.membership_id = :membership) latest
    LEFT JOIN LATERAL tier_state_at(:membership, latest.at) c ON latest.at > :at""")


async def refresh_tier(session: AsyncSession, membership: Membership, programme: Programme, at: datetime, *,
                       reason: TierChangeReason, actor_id: int | None, earned_changed: bool = False,
                       before: TierState | None = None, **details: Any) -> None:
    """Records the tier in force at `at` when it changed, or when the earned tier did
    (`earned_changed`: the membership's earned rank is the new one, not yet in history).

    Changed from what: the tier in force at `at` by `tier_state_at` as the sources stood
    before this write, never the cached rank (a fee term or override may have lapsed
    since the last row, unrecorded). `before` is that state when the caller changed a
    source (a fee, a refund, an override) before calling, read before the change; without
    it, the history's own state at `at` is the before (a change of the earned tier alone).
    An earned change that leaves the tier in force as it was (a fee holds it) is EARNED,
    not a promotion from a tier to itself."""
    rules = await rules_in_force(session, programme.id, at)
    row = (await session.execute(_STATES_AT, {
        "membership": membership.id, "at": at, "earned": membership.earned_rank if earned_changed else None})).one()
    after, before = TierState(*row[0:5]), before or TierState(*row[5:10])
    if after.effective != before.effective or earned_changed:
        if earned_changed and after.effective == before.effective and \
                reason in (TierChangeReason.PROMOTED, TierChangeReason.DEMOTED):
            reason = TierChangeReason.EARNED  # an undone promotion keeps its own reason
        earned = (membership.earned_rank, membership.earned_until) if earned_changed else None
        await record_change(session, membership, from_rank=before.effective, to_rank=after.effective, reason=reason,
                            rules=rules, at=at, actor_id=actor_id, earned=earned, cached_rank=row[10], **details)


NO_TIER = TierState(0, 0, 0, 0, None)


async def upgrade_credit(session: AsyncSession, membership: Membership, rank: int, at: datetime,
                         state: TierState | None = None) -> tuple[Decimal, FeePayment | None]:
    """What paying for tier `rank` at `at` is credited: the unexpired part of a live fee
    payment for a lower tier (the one worth most, when several are live), if `rank` is
    above the tier the fees in force hold. A payment's value is what bought its term
    (amount and its own credit); one that a live payment was credited already gives
    nothing again. `state`: the tier in force at `at`, when the caller has it."""
    if rank <= (state or await tier_state(session, membership, at)).fee:
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
                 currency: str, at: datetime | None, actor_id: int | None) -> tuple[Membership, FeePayment]:
    """Pays a tier's entry fee: the account becomes (or stays) a member and holds the tier
    by fee for the programme's fee term. An upgrade within a lower tier's fee term is
    due the fee less that term's unexpired part (`upgrade_credit`); a payment below what
    is due is refused, naming the amount due."""
    check = Checker()
    amount = check.money("fee_payment.amount", amount)
    currency = check.currency("fee_payment.currency", currency)
    check.happened("fee_payment.paid_at", at, datetime.now(timezone.utc), "paidAt")
    check.done()
    programme = await get_row(session, Programme, programme_id)
    if programme is None:
        raise DomainError.one("programme_id", "No programme has this ID.", Code.NOT_FOUND)
    if programme.archived_at is not None:
        raise DomainError.one("programme_id", f"{programme.name} is archived and takes no enrolments or fees.",
                              Code.ARCHIVED)
    account = await live(session, Customer, account_id, "account_id", "customer")
    await lock_key(session, "membership", f"{account_id}:{programme_id}")
    membership = (await session.execute(
        select(Membership).where(Membership.account_id == account_id, Membership.programme_id == programme_id)
        .with_for_update().execution_options(populate_existing=True)
    )).scalar_one_or_none()
    at = instant_after_lock(at)
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
        raise DomainError.one("tier_code", f"No tier {str(tier_code)[:60]!r} in the rules in force (tiers: {known}).",
                              MembershipErrorCode.UNKNOWN_TIER)
    if currency != programme.currency:
        raise DomainError.one("fee_payment.currency", f"The programme's fees are in {programme.currency}.",
                              MembershipErrorCode.CURRENCY_MISMATCH)
    # The tier in force before this payment: what its history row changes from.
    before = await tier_state(session, membership, at) if membership is not None else NO_TIER
    credit, credited = (await upgrade_credit(session, membership, tier.rank, at, before) if membership is not None
                        else (Decimal("0.00"), None))
    due = max(round_money(tier.entry_fee - credit), Decimal("0.00"))
    if amount < due:
        credited_note = f" ({tier.entry_fee} {currency} less {credit} {currency} unexpired of the lower fee)" if credit else ""
        raise DomainError.one("fee_payment.amount", f"{due} {currency} is due for {tier.name}{credited_note}; "
                              f"{round_money(due - amount)} {currency} is missing.", MembershipErrorCode.FEE_TOO_LOW,
                              details={"amount_due": due})
    joining = membership is None
    if joining:
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
    explanation = {"fee_payment": ref("FeePayment", payment.id), "tier": tier.code, "term_end": term_end.isoformat()}
    if credited is not None:
        explanation.update(credit=str(credit), credited_payment=ref("FeePayment", credited.id))
    member = {"membership": membership.id, "account": account_id, "programme": programme_id}
    await emit_all(session, [Emission(body, membership.id, at, account_id) for body in (
        *([MembershipEnrolled(**member, tier=tier.code, joined_at=membership.joined_at)] if joining else []),
        FeePaid(**member, fee_payment=payment.id, tier=tier.code, amount=amount, credit=credit, currency=currency,
                term_start=at, term_end=term_end))])
    await refresh_tier(session, membership, programme, at, reason=TierChangeReason.FEE_PAID, actor_id=actor_id,
                       before=before, explanation=explanation)
    return membership, payment


async def refund_fee(session: AsyncSession, fee_payment_id: int, *, reason: str | None, at: datetime | None,
                     actor_id: int | None) -> tuple[Membership, FeePayment]:
    """A refund ends the fee term at `at` (None: now, once the membership is locked); the
    tier in force is recomputed."""
    check = Checker()
    reason = check.text("reason", reason, max_len=500)
    check.happened("at", at, datetime.now(timezone.utc), "refundedAt")
    check.done()
    payment = await get_row(session, FeePayment, fee_payment_id)
    if payment is None:
        raise DomainError.one("id", "No fee payment has this ID.", Code.NOT_FOUND)
    # The membership first (every tier writer's order), then the payment, read again.
    membership = await lock_membership(session, payment.membership_id)
    payment = (await session.execute(select(FeePayment).where(FeePayment.id == fee_payment_id).with_for_update()
                                     .execution_options(populate_existing=True))).scalar_one()
    at = instant_after_lock(at)
    if payment.refunded_at is not None:
        raise DomainError.one("id", "This fee was refunded already.", MembershipErrorCode.ALREADY_REFUNDED)
    upgrade = (await session.execute(select(FeePayment.id).where(
        FeePayment.credited_payment_id == payment.id, FeePayment.refunded_at.is_(None)).limit(1))).scalar_one_or_none()
    if upgrade is not None:
        raise DomainError.one("id", "This fee's unexpired part was credited to an upgrade; refund that payment first.",
                              MembershipErrorCode.CREDITED, related=("FeePayment", upgrade))
    programme = await get_row(session, Programme, membership.programme_id)
    before = await tier_state(session, membership, at)
    payment.refunded_at = at
    payment.refund_reason = reason
    await session.flush()
    await emit_all(session, [Emission(FeeRefunded(
        membership=membership.id, account=membership.account_id, programme=membership.programme_id,
        fee_payment=payment.id, tier_rank=payment.tier_rank, amount=payment.amount, currency=payment.currency,
        refunded_at=at, reason=reason), membership.id, at, membership.account_id)])
    await refresh_tier(session, membership, programme, at, reason=TierChangeReason.REFUND, actor_id=actor_id, before=before,
                       explanation={"fee_payment": ref("FeePayment", payment.id)})
    return membership, payment


async def set_override(session: AsyncSession, membership_id: int, *, kind: OverrideKind, tier_code: str,
                       reason: str, expires_at: datetime | None, at: datetime | None,
                       actor_id: int | None) -> TierOverride:
    """A floor or lock from `at` (None: now, once the membership is locked)."""
    check = Checker()
    reason = check.text("reason", reason, max_len=500, required=True)
    check.aware("expires_at", expires_at)
    check.done()
    membership = await lock_membership(session, membership_id)
    if membership is None:
        raise DomainError.one("membership_id", "No membership has this ID.", Code.NOT_FOUND)
    at = instant_after_lock(at)
    if expires_at is not None and expires_at <= at:
        raise DomainError.one("expires_at", "An override expires in the future.", Code.INVALID)
    programme = await get_row(session, Programme, membership.programme_id)
    rules = await rules_in_force(session, programme.id, at)
    tier = rules.by_code(tier_code or "") if rules else None
    if tier is None:
        raise DomainError.one("tier_code", f"No tier {str(tier_code)[:60]!r} in the rules in force.",
                              MembershipErrorCode.UNKNOWN_TIER)
    before = await tier_state(session, membership, at)
    override = TierOverride(membership_id=membership.id, kind=kind.value, tier_rank=tier.rank, reason=reason,
                            actor_id=actor_id, starts_at=at, expires_at=expires_at)
    session.add(override)
    await session.flush()
    await refresh_tier(session, membership, programme, at, reason=TierChangeReason.OVERRIDE, actor_id=actor_id,
                       before=before, explanation={"override": ref("TierOverride", override.id), "kind": kind.value, "tier": tier.code, "reason": reason})
    return override


async def revoke_override(session: AsyncSession, override_id: int, *, at: datetime | None,
                          actor_id: int | None) -> TierOverride:
    """Ends an override at `at` (None: now, once the membership is locked)."""
    override = await get_row(session, TierOverride, override_id)
    if override is None:
        raise DomainError.one("id", "No override has this ID.", Code.NOT_FOUND)
    membership = await lock_membership(session, override.membership_id)
    override = (await session.execute(select(TierOverride).where(TierOverride.id == override_id).with_for_update()
                                      .execution_options(populate_existing=True))).scalar_one()
    at = instant_after_lock(at)
    if override.revoked_at is not None or (override.expires_at is not None and override.expires_at <= at):
        raise DomainError.one("id", "This override is no longer in force.", Code.NO_CHANGE)
    programme = await get_row(session, Programme, membership.programme_id)
    before = await tier_state(session, membership, at)
    override.revoked_at = at
    await session.flush()
    await refresh_tier(session, membership, programme, at, reason=TierChangeReason.OVERRIDE, actor_id=actor_id,
                       before=before, explanation={"override_revoked": ref("TierOverride", override.id)})
    return override


async def tier_at(session: AsyncSession, membership: Membership, at: datetime) -> tuple[TierState, TierChange | None]:
    """The tier in force at `at` (computed, lapses at their exact instants included) and
    the latest history row at or before `at`, which explains it (None before any)."""
    state = await tier_state(session, membership, at)
    row = (await session.execute(
        select(TierChange).where(TierChange.membership_id == membership.id, TierChange.at <= at)
        .order_by(TierChange.at.desc(), TierChange.id.desc()).limit(1)
    )).scalar_one_or_none()
    return state, row
