"""The qualifying ledger, immediate promotion, and its undoing.

What counts: an order counts once it is paid, at its payment instant (`counted_at`):
volume is money earned, as an airline credits status for a flown ticket and not for a
booking. A placed, unpaid order earns nothing, so it cannot lift a member to a tier
(and its prices) and then be cancelled; placing an order already paid counts it at
once. Dated at the payment rather than at the placement: counting a December order
paid in January at its placement would change a year that is closed and perhaps
assessed, while the payment instant puts the volume in the window open when the money
came in. Returns (of paid orders) and cancellations subtract, at their own instant,
and only if their order counted (a cancelled order that was never paid subtracts
nothing; one counted at placement before this rule subtracts what it added). Admins
adjust either way. Each entry is unique on (membership, source): replaying an order, a
return or a cancellation writes nothing.

An entry that lifts the current window's volume over a higher tier's promotion
threshold promotes the member in the same transaction. A return or cancellation undoes
promotions in the same transaction (tiers.engine.undo_promotions): those decided in
the period that contains the reversal's instant, whose window's volume through that
instant no longer reaches their threshold, when the reversed order counted in that
window. Down to what the volume still earns, never below what the member had earned
before. A reversal dated after the promotion's period counts in the next window: the
closed window's assessment decides on the volume it held (as it does when the member
was already assessed through the reversal's period). A reversal back-dated before a
later promotion of its period is decided at that promotion's instant, so the history
never undoes what comes after it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from uuid import uuid4

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import Code, DomainError
from kernel.references import get_row
from kernel.validation import Checker
from models import Membership, Order, OrderReturn, Programme, QualifyingEntry, TierChange, TierChangeReason
from tiers.engine import Entry, MemberState, Promotion, promote_now, undo_promotions
from tiers.membership import instant_after_lock, latest_change_at, lock_membership, refresh_tier, window_rule_of
from tiers.programmes import programme_rules, rules_in_force
from tiers.statement import source_ref
from tiers.windows import Window, current_window, period_containing

MAX_ADJUSTMENT = Decimal("999999999999.99")


def counted_at(order: Order) -> datetime | None:
    """When an order's volume counts: when it was paid (None: not yet, maybe never)."""
    return order.paid_at


async def lock_memberships(session: AsyncSession, customer_id: int, currency: str) -> list[tuple[Membership, Programme]]:
    """The customer's memberships in programmes that count purchases in `currency`,
    locked, so concurrent orders of one member promote one after the other."""
    rows = (await session.execute(
        select(Membership, Programme).join(Programme, Programme.id == Membership.programme_id)
        .where(Membership.account_id == customer_id, Programme.currency == currency)
        .order_by(Membership.id).with_for_update(of=Membership).execution_options(populate_existing=True)
    )).all()
    return [(m, p) for m, p in rows]


async def record_entry(session: AsyncSession, membership: Membership, programme: Programme, *, source: str,
                       amount: Decimal, occurred_at: datetime, reason: str | None = None,
                       actor_id: int | None = None, reverses: QualifyingEntry | None = None) -> bool:
    """Appends one entry unless its source is already in the ledger; True if it was new.
    `reverses` is the order's entry a return or cancellation takes back."""
    inserted = (await session.execute(
        insert(QualifyingEntry).values(membership_id=membership.id, source=source, amount=amount,
                                       occurred_at=occurred_at, reason=reason, actor_id=actor_id)
        .on_conflict_do_nothing(constraint="uq_qualifying_entry_membership_id_source")
        .returning(QualifyingEntry.id)
    )).scalar_one_or_none()
    if inserted is not None and amount > 0:
        await _promote_if_earned(session, membership, programme, occurred_at, actor_id, source)
    elif inserted is not None and reverses is not None:
        await _undo_if_unearned(session, membership, programme, occurred_at, reverses, actor_id, source)
    return inserted is not None


async def window_volume(session: AsyncSession, membership: Membership, programme: Programme, at: datetime) -> tuple[Decimal, Window]:
    window = current_window(window_rule_of(programme), membership.joined_at, at)
    volume = (await session.execute(
        select(func.coalesce(func.sum(QualifyingEntry.amount), 0)).where(
            QualifyingEntry.membership_id == membership.id, QualifyingEntry.occurred_at >= window.start,
            QualifyingEntry.occurred_at <= at)
    )).scalar_one()
    return Decimal(volume), window


async def _promote_if_earned(session: AsyncSession, membership: Membership, programme: Programme, at: datetime,
                             actor_id: int | None, source: str) -> None:
    """Decides at `at`, then at each later entry's instant of the period until one
    promotes: an entry adds to the volume at every later instant of its window, and a
    concurrent transaction that wrote an entry a moment later (and committed first)
    decided without this one, which it could not see (attack report: two parallel paid
    orders, each alone below the threshold, together above it, promoted nobody)."""
    if await _promote_at(session, membership, programme, at, actor_id, source):
        return
    period = period_containing(window_rule_of(programme), membership.joined_at, at)
    later = (await session.execute(
        select(QualifyingEntry.occurred_at).where(
            QualifyingEntry.membership_id == membership.id, QualifyingEntry.occurred_at > at,
            QualifyingEntry.occurred_at < period.end).group_by(QualifyingEntry.occurred_at)
        .order_by(QualifyingEntry.occurred_at).limit(MAX_LATER_INSTANTS))).scalars().all()
    for instant in later:
        if await _promote_at(session, membership, programme, instant, actor_id, source):
            return


# Entries dated after a new one, in its period, are few (the ones of concurrent
# transactions); the bound keeps a back-dated entry into a busy period cheap.
MAX_LATER_INSTANTS = 20


async def _promote_at(session: AsyncSession, membership: Membership, programme: Programme, at: datetime,
                      actor_id: int | None, source: str) -> bool:
    rules = await rules_in_force(session, programme.id, at)
    if rules is None:
        return False
    volume, window = await window_volume(session, membership, programme, at)
    state = MemberState(membership.joined_at, membership.earned_rank, membership.earned_until, membership.assessed_through)
    promotion = promote_now(state, at, volume, programme_rules(programme), rules)
    if promotion is None:
        return False
    before, until_before = membership.earned_rank, membership.earned_until
    membership.earned_rank, membership.earned_until = promotion
    tier = rules.tier(membership.earned_rank)
    # History is kept in time order, each row carrying the earned state from its instant
    # on: a promotion by a back-dated entry cannot be slipped in before a later row (that
    # row, and the readers, would keep the old earned tier), so it takes effect at the
    # later of the entry's instant and the latest history row's (README, "The tier at an
    # instant"). Its hold still counts from the entry's period.
    # earned_before / earned_until_before / window: what undoing this promotion restores and measures.
    latest = await latest_change_at(session, membership.id)
    effective_at = max(at, latest) if latest is not None else at
    await refresh_tier(session, membership, programme, effective_at, reason=TierChangeReason.PROMOTED, actor_id=actor_id,
                       earned_changed=True, window=window, volume=volume, explanation={
                           "entry_at": at.isoformat(),
                           "rule": "promotion", "tier": tier.code, "threshold": str(tier.promotion_threshold),
                           "source": source_ref(source), "earned_before": before, "earned_until_before": _iso(until_before),
                           "held_until": membership.earned_until.isoformat(),
                           "window": [window.start.isoformat(), window.end.isoformat()], "volume": str(volume)})
    return True


def _iso(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant is not None else None


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _promotion_of(row: TierChange) -> Promotion:
    explanation = row.explanation
    return Promotion(at=row.at, rank=int(explanation["earned_rank"]), held_until=_instant(explanation.get("held_until")),
                     rank_before=int(explanation.get("earned_before", 0)),
                     # Rows written before the hold was recorded: no hold to restore.
                     until_before=_instant(explanation.get("earned_until_before")),
                     window_start=row.window_start, window_end=row.window_end)


async def _promotions_in(session: AsyncSession, membership: Membership, period: Window) -> list[Promotion]:
    """The immediate promotions of the period, in order, since the last assessment that
    changed the earned tier in it (what came before that is no longer what it restores)."""
    rows = (await session.execute(
        select(TierChange).where(
            TierChange.membership_id == membership.id, TierChange.at >= period.start, TierChange.at < period.end,
            # EARNED: a promotion or demotion while a fee or floor held the tier in force
            TierChange.reason.in_([TierChangeReason.PROMOTED.value, TierChangeReason.DEMOTED.value,
                                   TierChangeReason.EARNED.value]))
        .order_by(TierChange.at, TierChange.id)
    )).scalars().all()
    promotions: list[Promotion] = []
    for row in rows:
        if row.reason != TierChangeReason.DEMOTED and row.explanation.get("rule") == "promotion":
            promotions.append(_promotion_of(row))
        else:
            promotions = []
    return promotions


async def _undo_if_unearned(session: AsyncSession, membership: Membership, programme: Programme, at: datetime,
                            reversed_entry: QualifyingEntry, actor_id: int | None, source: str) -> None:
    period = period_containing(window_rule_of(programme), membership.joined_at, at)
    if membership.assessed_through is not None and membership.assessed_through >= period.end:
        return  # a back-dated reversal into a period already assessed: that assessment stands
    promotions = await _promotions_in(session, membership, period)
    if not promotions:
        return
    # A reversal back-dated before a later promotion of the period is decided once that
    # promotion is in the history, so the history never undoes what comes after it.
    at = max(at, promotions[-1].at)
    rules = await rules_in_force(session, programme.id, at)
    if rules is None:
        return
    start = min(p.window_start for p in promotions)
    entries = [Entry(occurred, amount) for occurred, amount in await session.execute(
        select(QualifyingEntry.occurred_at, QualifyingEntry.amount).where(
            QualifyingEntry.membership_id == membership.id, QualifyingEntry.occurred_at >= start,
            QualifyingEntry.occurred_at <= at))]
    undo = undo_promotions(membership.earned_rank, promotions, entries, at, reversed_entry.occurred_at, rules)
    if undo is None:
        return
    before = membership.earned_rank
    membership.earned_rank, membership.earned_until = undo.earned_rank, undo.earned_until
    undone, restored = rules.tier(undo.promotion.rank), rules.tier(undo.earned_rank)
    window = Window(undo.promotion.window_start, undo.promotion.window_end)
    await refresh_tier(session, membership, programme, at, reason=TierChangeReason.PROMOTION_UNDONE, actor_id=actor_id,
                       earned_changed=True, window=window, volume=undo.volume, explanation={
                           "rule": "promotion_undone", "source": source_ref(source),
                           "order": source_ref(reversed_entry.source),
                           "undone_tier": undone.code if undone else None, "promoted_at": undo.promotion.at.isoformat(),
                           "threshold": str(undone.promotion_threshold) if undone else None,
                           "window": [window.start.isoformat(), window.end.isoformat()], "volume": str(undo.volume),
                           "earned_before": before, "restored_rank": undo.earned_rank,
                           "restored_tier": restored.code if restored else None,
                           "held_until": _iso(undo.earned_until)})


# -- sources ----------------------------------------------------------------------------

def _counts_for(membership: Membership, order: Order) -> bool:
    return membership.joined_at <= order.placed_at


async def _counted_entry(session: AsyncSession, membership: Membership, order: Order) -> QualifyingEntry | None:
    return (await session.execute(select(QualifyingEntry).where(
        QualifyingEntry.membership_id == membership.id, QualifyingEntry.source == f"order:{order.id}")
    )).scalar_one_or_none()


async def order_paid(session: AsyncSession, order: Order, actor_id: int | None = None) -> int:
    """Counts a paid order (placed paid, or paid later) at its payment instant; an unpaid
    one counts nothing yet. How many entries were new."""
    at, count = counted_at(order), 0
    if at is None:
        return count
    for membership, programme in await lock_memberships(session, order.customer_id, order.currency):
        if _counts_for(membership, order):
            count += await record_entry(session, membership, programme, source=f"order:{order.id}", amount=order.total,
                                        occurred_at=at, actor_id=actor_id)
    return count


async def _reverse(session: AsyncSession, order: Order, *, source: str, amount: Decimal | None, at: datetime,
                   actor_id: int | None) -> int:
    """Takes back `amount` (None: all the order counted) of an order, in every ledger the
    order counted in; how many entries were new."""
    count = 0
    for membership, programme in await lock_memberships(session, order.customer_id, order.currency):
        counted = await _counted_entry(session, membership, order) if _counts_for(membership, order) else None
        if counted is None:
            continue
        count += await record_entry(session, membership, programme, source=source, occurred_at=at, actor_id=actor_id,
                                    amount=-(counted.amount if amount is None else amount), reverses=counted)
    return count


async def order_returned(session: AsyncSession, order: Order, record: OrderReturn, actor_id: int | None = None) -> None:
    await _reverse(session, order, source=f"return:{record.id}", amount=record.amount, at=record.returned_at,
                   actor_id=actor_id)


async def order_cancelled(session: AsyncSession, order: Order, actor_id: int | None = None) -> None:
    await _reverse(session, order, source=f"cancel:{order.id}", amount=None, at=order.cancelled_at, actor_id=actor_id)


async def replay_customer(session: AsyncSession, customer_id: int) -> int:
    """Records every paid order, return and cancellation of the customer again, in the
    order they happened (so promotions and their undoing come out as they did); entries
    already in the ledger are left alone. Returns how many entries were new."""
    orders = (await session.execute(select(Order).where(Order.customer_id == customer_id).order_by(Order.placed_at, Order.id))).scalars().all()
    # (instant, 0 for an order's payment and 1 for what takes it back, order, return or None)
    events: list[tuple[datetime, int, Order, OrderReturn | None]] = []
    for order in orders:
        if counted_at(order) is not None:
            events.append((counted_at(order), 0, order, None))
        for record in (await session.execute(select(OrderReturn).where(OrderReturn.order_id == order.id))).scalars():
            events.append((record.returned_at, 1, order, record))
        if order.cancelled_at is not None:
            events.append((order.cancelled_at, 1, order, None))
    count = 0
    for at, kind, order, record in sorted(events, key=lambda event: (event[0], event[1], event[2].id)):
        if kind == 0:
            count += await order_paid(session, order)
        elif record is not None:
            count += await _reverse(session, order, source=f"return:{record.id}", amount=record.amount, at=at, actor_id=None)
        else:
            count += await _reverse(session, order, source=f"cancel:{order.id}", amount=None, at=at, actor_id=None)
    return count


async def adjust(session: AsyncSession, membership_id: int, *, amount: Decimal, reason: str, key: str | None,
                 occurred_at: datetime | None, actor_id: int | None) -> bool:
    """An admin's correction of qualifying volume (signed). `key` makes a retry safe.
    `occurred_at` None: now, once the membership is locked."""
    check = Checker()
    reason = check.text("reason", reason, max_len=500, required=True)
    key = check.text("key", key, max_len=100) or uuid4().hex
    check.happened("occurred_at", occurred_at, datetime.now(timezone.utc), "occurredAt")
    # copy_abs(), not abs(): abs() rounds in the decimal context and overflows on 1e1000000000.
    if amount is None or not amount.is_finite() or amount.copy_abs() > MAX_ADJUSTMENT \
            or amount != amount.quantize(Decimal("0.01")):
        check.fail("amount", "An adjustment is a non-zero amount with at most two decimals.", Code.INVALID)
    elif amount == 0:
        check.fail("amount", "An adjustment of zero changes nothing.", Code.INVALID)
    check.done()
    membership = await lock_membership(session, membership_id)
    if membership is None:
        raise DomainError.one("membership_id", "No membership has this ID.", Code.NOT_FOUND)
    occurred_at = instant_after_lock(occurred_at)
    programme = await get_row(session, Programme, membership.programme_id)
    return await record_entry(session, membership, programme, source=f"adjustment:{key}", amount=amount,
                              occurred_at=occurred_at, reason=reason, actor_id=actor_id)
