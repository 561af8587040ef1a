"""The qualifying ledger and immediate promotion.

Placed orders add their net total, returns and cancellations subtract, admins adjust.
Each entry is unique on (membership, source): replaying an order or a return writes
nothing. An entry that lifts the current window's volume over a higher tier's promotion
threshold promotes the member in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import uuid4

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import Code, DomainError
from kernel.references import get_row
from kernel.validation import Checker
from models import Membership, Order, OrderReturn, Programme, QualifyingEntry, TierChangeReason
from tiers.engine import MemberState, promote_now
from tiers.membership import latest_change_at, refresh_tier, window_rule_of
from tiers.programmes import programme_rules, rules_in_force
from tiers.windows import Window, current_window

MAX_ADJUSTMENT = Decimal("999999999999.99")


async def _memberships_for(session: AsyncSession, customer_id: int, currency: str) -> list[tuple[Membership, Programme]]:
    """The customer's memberships in programmes that count purchases in `currency`,
    locked, so concurrent orders of one member promote one after the other."""
    rows = (await session.execute(
        select(Membership, Programme).join(Programme, Programme.id == Membership.programme_id)
        .where(Membership.account_id == customer_id, Programme.currency == currency)
        .order_by(Membership.id).with_for_update(of=Membership)
    )).all()
    return [(m, p) for m, p in rows]


async def record_entry(session: AsyncSession, membership: Membership, programme: Programme, *, source: str,
                       amount: Decimal, occurred_at: datetime, reason: str | None = None,
                       actor_id: int | None = None) -> bool:
    """Appends one entry unless its source is already in the ledger; True if it was new."""
    inserted = (await session.execute(
        insert(QualifyingEntry).values(membership_id=membership.id, source=source, amount=amount,
                                       occurred_at=occurred_at, reason=reason, actor_id=actor_id)
        .on_conflict_do_nothing(constraint="uq_qualifying_entry_membership_id_source")
        .returning(QualifyingEntry.id)
    )).scalar_one_or_none()
    if inserted is not None and amount > 0:
        await _promote_if_earned(session, membership, programme, occurred_at, actor_id)
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
                             actor_id: int | None) -> None:
    rules = await rules_in_force(session, programme.id, at)
    if rules is None:
        return
    volume, window = await window_volume(session, membership, programme, at)
    state = MemberState(membership.joined_at, membership.earned_rank, membership.earned_until, membership.assessed_through)
    promotion = promote_now(state, at, volume, programme_rules(programme), rules)
    if promotion is None:
        return
    before, (membership.earned_rank, membership.earned_until) = membership.earned_rank, promotion
    tier = rules.tier(membership.earned_rank)
    # History is kept in time order, each row carrying the earned state from its instant
    # on: a promotion by a back-dated entry cannot be slipped in before a later row (that
    # row, and the readers, would keep the old earned tier), so it takes effect at the
    # later of the entry's instant and the latest history row's (README, "The tier at an
    # instant"). Its hold still counts from the entry's period.
    latest = await latest_change_at(session, membership.id)
    effective_at = max(at, latest) if latest is not None else at
    await refresh_tier(session, membership, programme, effective_at, reason=TierChangeReason.PROMOTED, actor_id=actor_id,
                       earned_changed=True, window=window, volume=volume, explanation={
                           "entry_at": at.isoformat(),
                           "rule": "promotion", "tier": tier.code, "threshold": str(tier.promotion_threshold),
                           "earned_before": before, "held_until": membership.earned_until.isoformat(),
                           "window": [window.start.isoformat(), window.end.isoformat()], "volume": str(volume)})


# -- sources ----------------------------------------------------------------------------

async def order_placed(session: AsyncSession, order: Order, actor_id: int | None = None) -> None:
    for membership, programme in await _memberships_for(session, order.customer_id, order.currency):
        if membership.joined_at <= order.placed_at:
            await record_entry(session, membership, programme, source=f"order:{order.id}", amount=order.total,
                               occurred_at=order.placed_at, actor_id=actor_id)


async def order_returned(session: AsyncSession, order: Order, record: OrderReturn, actor_id: int | None = None) -> None:
    for membership, programme in await _memberships_for(session, order.customer_id, order.currency):
        if membership.joined_at <= order.placed_at:
            await record_entry(session, membership, programme, source=f"return:{record.id}", amount=-record.amount,
                               occurred_at=record.returned_at, actor_id=actor_id)


async def order_cancelled(session: AsyncSession, order: Order, actor_id: int | None = None) -> None:
    for membership, programme in await _memberships_for(session, order.customer_id, order.currency):
        if membership.joined_at <= order.placed_at:
            await record_entry(session, membership, programme, source=f"cancel:{order.id}", amount=-order.total,
                               occurred_at=order.cancelled_at, actor_id=actor_id)


async def replay_customer(session: AsyncSession, customer_id: int) -> int:
    """Records every order, return and cancellation of the customer again; entries
    already in the ledger are left alone. Returns how many entries were new."""
    orders = (await session.execute(select(Order).where(Order.customer_id == customer_id).order_by(Order.placed_at, Order.id))).scalars().all()
    count = 0
    for order in orders:
        for membership, programme in await _memberships_for(session, order.customer_id, order.currency):
            if membership.joined_at > order.placed_at:
                continue
            count += await record_entry(session, membership, programme, source=f"order:{order.id}", amount=order.total,
                                        occurred_at=order.placed_at)
            for record in (await session.execute(select(OrderReturn).where(OrderReturn.order_id == order.id))).scalars():
                count += await record_entry(session, membership, programme, source=f"return:{record.id}",
                                            amount=-record.amount, occurred_at=record.returned_at)
            if order.cancelled_at is not None:
                count += await record_entry(session, membership, programme, source=f"cancel:{order.id}",
                                            amount=-order.total, occurred_at=order.cancelled_at)
    return count


async def adjust(session: AsyncSession, membership_id: int, *, amount: Decimal, reason: str, key: str | None,
                 occurred_at: datetime, actor_id: int | None) -> bool:
    """An admin's correction of qualifying volume (signed). `key` makes a retry safe."""
    check = Checker()
    reason = check.text("reason", reason, max_len=500, required=True)
    key = check.text("key", key, max_len=100) or uuid4().hex
    check.aware("occurred_at", occurred_at)
    # copy_abs(), not abs(): abs() rounds in the decimal context and overflows on 1e1000000000.
    if amount is None or not amount.is_finite() or amount.copy_abs() > MAX_ADJUSTMENT \
            or amount != amount.quantize(Decimal("0.01")):
        check.fail("amount", "An adjustment is a non-zero amount with at most two decimals.", Code.INVALID)
    elif amount == 0:
        check.fail("amount", "An adjustment of zero changes nothing.", Code.INVALID)
    check.done()
    membership = await get_row(session, Membership, membership_id, lock=True)
    if membership is None:
        raise DomainError.one("membership_id", "No membership has this ID.", Code.NOT_FOUND)
    programme = await get_row(session, Programme, membership.programme_id)
    return await record_entry(session, membership, programme, source=f"adjustment:{key}", amount=amount,
                              occurred_at=occurred_at, reason=reason, actor_id=actor_id)
