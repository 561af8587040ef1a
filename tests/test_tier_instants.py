"""Property: the tier in force at any instant is one function of the stored history.

Random histories are made through the write paths themselves, in time order: fee
payments and refunds, floors and locks set (some expiring) and revoked, qualifying
volume (some back-dated) crossing promotion thresholds, orders placed paid or unpaid,
paid later, cancelled (unpaid: nothing counted) and returned in part or whole (undoing
the promotions they caused), rule versions published with
their own effective dates (with fewer or more tiers, so clamping counts), and bulk
assessments. Then at instants before, at and after every event and every stored bound
(fee terms, override expiries, version dates, history rows), each reader agrees with the
pure function tiers.instants.tier_in_force over the stored rows: the SQL function
`tier_state_at`, the membership view (`membership(at:)`), `tierAt` (tier and explaining
row), the discount that prices quotes and orders, and the view's validUntil (the tier
holds until then as the sources stood); over GraphQL too at some instants.

Bounded for the suite (CRM_INSTANT_EXAMPLES examples, default 20);
`CRM_INSTANT_EXAMPLES=300 make test PYTEST_ARGS="tests/test_tier_instants.py"` searches longer.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from crm import orders
from crm.products import create_product
from models import (Customer, FeePayment, QualifyingEntry, Membership, Order, OrderLine, OrderStatus, OverrideKind, Programme, RuleVersion,
                    Tier, TierChange, TierOverride)
from resolvers.ids import to_global_id
from tiers import ledger, membership as service, programmes
from tiers.assessment import assess_programme
from tiers.instants import EarnedMark, FeeTerm, History, Override, TierState, VersionSpan, latest_mark, tier_in_force, version_at
from tiers.pricing import tier_discount
from tiers.rules import TierRule
from tiers.view import membership_view

EXAMPLES = int(os.environ.get("CRM_INSTANT_EXAMPLES", "20"))
START = datetime(2024, 1, 1, tzinfo=timezone.utc)
TIERS = [TierRule(rank=r, code=f"T{r}", name=f"Tier {r}", entry_fee=Decimal(0), discount_rate=Decimal("0.05") * r,
                  training_quota=r, promotion_threshold=Decimal(1000 * r), retention_threshold=Decimal(1000 * r - 500))
         for r in (1, 2, 3)]
EPSILON = timedelta(microseconds=1)

event = st.tuples(
    st.integers(1, 650 * 24),  # hours after the first payment
    st.sampled_from(["fee", "refund", "floor", "lock", "revoke", "volume", "volume", "assess", "publish",
                     "order", "order", "pay", "cancel", "return", "bounce"]),
    st.integers(1, 3),  # a rank
    st.one_of(st.none(), st.integers(1, 200)),  # days: an override's expiry, a version's delay, a back-dating
    st.integers(-4, 12).filter(bool).map(lambda k: Decimal(250 * k)),  # a volume amount
)


@st.composite
def histories(draw):
    kind = draw(st.sampled_from(["calendar_year", "anniversary", "rolling_months"]))
    programme = {
        "name": f"Instants {uuid.uuid4().hex}", "kind": "member", "currency": "EUR",
        "time_zone": draw(st.sampled_from(["UTC", "Asia/Shanghai", "America/New_York"])), "window_kind": kind,
        "window_months": draw(st.integers(1, 4)) if kind == "rolling_months" else None,
        "fee_term_months": draw(st.integers(1, 8)), "max_drop": draw(st.integers(1, 2)),
    }
    first = START + timedelta(hours=draw(st.integers(0, 24 * 60)))
    return programme, draw(st.integers(1, 3)), first, draw(st.integers(1, 3)), sorted(draw(st.lists(event, max_size=12)), key=lambda e: e[0])


async def _publish(session, programme_id: int, top: int, effective_from: datetime) -> None:
    version = await programmes.create_draft(session, programme_id, TIERS[:top])
    await programmes.publish(session, version.id, effective_from)


async def _build(database, scenario):
    """Runs the scenario's events through the write paths; returns the membership's id,
    the account's and the instants worth asking about."""
    settings_, top, first, first_rank, events = scenario
    async with database.session() as s, s.begin():
        programme = await programmes.create_programme(s, settings_)
        await _publish(s, programme.id, top, START - timedelta(days=1))
        account = Customer(name="Member", kind="person")
        s.add(account)
        await s.flush()
        membership, _ = await service.enroll(s, account_id=account.id, programme_id=programme.id,
                                             tier_code=f"T{min(first_rank, top)}", amount=Decimal(0), currency="EUR",
                                             at=first, actor_id=None)
        # 100.00 a unit before the tier's discount: an order of k units is about k * 100
        product = await create_product(s, {"sku": f"P-{uuid.uuid4().hex[:12]}", "name": "Unit", "list_price": Decimal(100),
                                           "currency": "EUR"})
        ids = (programme.id, account.id, membership.id, product.id)
    versions = [(START - timedelta(days=1), top)]
    instants = {first}
    for hours, kind, rank, days, amount in events:
        at = first + timedelta(hours=hours)
        instants.add(at)
        top_now = [t for start, t in versions if start <= at][-1]  # the version in force at `at`
        code = f"T{min(rank, top_now)}"
        if kind == "assess":
            await assess_programme(database.session, ids[0], at, jobs=1)
            continue
        async with database.session() as s, s.begin():
            if kind == "fee":
                await service.enroll(s, account_id=ids[1], programme_id=ids[0], tier_code=code, amount=Decimal(0),
                                     currency="EUR", at=at, actor_id=None)
            elif kind == "refund":
                fee = (await s.execute(select(FeePayment).where(FeePayment.membership_id == ids[2],
                                                                FeePayment.refunded_at.is_(None))
                                       .order_by(FeePayment.id).limit(1))).scalar_one_or_none()
                if fee is not None:
                    await service.refund_fee(s, fee.id, reason=None, at=at, actor_id=None)
            elif kind in ("floor", "lock"):
                await service.set_override(s, ids[2], kind=OverrideKind(kind), tier_code=code, reason="test",
                                           expires_at=at + timedelta(days=days) if days else None, at=at, actor_id=None)
            elif kind == "revoke":
                live = (await s.execute(select(TierOverride).where(
                    TierOverride.membership_id == ids[2], TierOverride.revoked_at.is_(None),
                    (TierOverride.expires_at.is_(None)) | (TierOverride.expires_at > at)).order_by(TierOverride.id)
                    .limit(1))).scalar_one_or_none()
                if live is not None:
                    await service.revoke_override(s, live.id, at=at, actor_id=None)
            elif kind == "volume":
                # Some entries are back-dated (before rows already in history).
                occurred = at - timedelta(days=days % 40) if days else at
                await ledger.adjust(s, ids[2], amount=amount, reason="test", key=None, occurred_at=occurred, actor_id=None)
            elif kind == "order":
                # amounts of 250..3000 as 3..30 units; odd ranks pay at once
                await orders.place_order(s, customer_id=ids[1], lines=[orders.LineRequest(ids[3], max(int(amount) // 100, 3))],
                                         paid=rank % 2 == 1, placed_at=at, actor_id=None)
            elif kind == "bounce":
                # a paid order, returned whole an hour later: what it promoted is undone
                order = await orders.place_order(s, customer_id=ids[1], paid=True, placed_at=at, actor_id=None,
                                                 lines=[orders.LineRequest(ids[3], max(int(amount) // 100, 3) * 2)])
                await orders.return_order(s, order.id, None, reason=None, actor_id=None, returned_at=at + timedelta(hours=1))
                instants.add(at + timedelta(hours=1))
            elif kind in ("pay", "cancel", "return"):
                status = OrderStatus.PAID if kind == "return" else OrderStatus.PLACED
                order = (await s.execute(select(Order).where(Order.customer_id == ids[1], Order.status == status)
                                         .order_by(Order.id).limit(1))).scalar_one_or_none()
                if order is None:
                    pass
                elif kind == "pay":
                    await orders.mark_paid(s, order.id, paid_at=max(at, order.placed_at))
                elif kind == "cancel":
                    await orders.cancel_order(s, order.id)  # at now: after the whole history
                else:
                    line = (await s.execute(select(OrderLine).where(OrderLine.order_id == order.id))).scalars().first()
                    part = [orders.ReturnRequest(line.id, 1)] if rank == 1 and line.quantity > 1 else None  # else all
                    await orders.return_order(s, order.id, part, reason=None, actor_id=None,
                                              returned_at=max(at, order.paid_at))
            elif kind == "publish":
                effective = max(at, versions[-1][0]) + timedelta(days=days or 0, hours=1)
                await _publish(s, ids[0], rank, effective)
                versions.append((effective, rank))
    return ids, instants


async def _history(session, programme_id: int, membership_id: int) -> History:
    fees = (await session.execute(select(FeePayment).where(FeePayment.membership_id == membership_id))).scalars()
    overrides = (await session.execute(select(TierOverride).where(TierOverride.membership_id == membership_id))).scalars()
    changes = (await session.execute(select(TierChange).where(TierChange.membership_id == membership_id))).scalars()
    versions = (await session.execute(
        select(RuleVersion.id, RuleVersion.effective_from, func.max(Tier.rank))
        .join(Tier, Tier.rule_version_id == RuleVersion.id)
        .where(RuleVersion.programme_id == programme_id, RuleVersion.status == "published").group_by(RuleVersion.id))).all()
    return History(
        fees=tuple(FeeTerm(f.tier_rank, f.term_start, f.term_end, f.refunded_at) for f in fees),
        overrides=tuple(Override(o.id, o.kind, o.tier_rank, o.starts_at, o.expires_at, o.revoked_at) for o in overrides),
        marks=tuple(EarnedMark(c.id, c.at, c.earned_rank, c.earned_until) for c in changes),
        versions=tuple(VersionSpan(v, start, top) for v, start, top in versions),
    )


def _bounds(history: History) -> set[datetime]:
    bounds = set()
    for fee in history.fees:
        bounds |= {fee.term_start, fee.term_end} | ({fee.refunded_at} if fee.refunded_at else set())
    for override in history.overrides:
        bounds |= {override.starts_at} | {b for b in (override.expires_at, override.revoked_at) if b}
    bounds |= {m.at for m in history.marks} | {v.effective_from for v in history.versions}
    return bounds


def _as_it_stood(history: History, at: datetime) -> History:
    """The history as it stood at `at`: sources started by then, refunds, revocations and
    rows recorded by then, the versions in force by then."""
    return History(
        fees=tuple(replace(f, refunded_at=f.refunded_at if f.refunded_at and f.refunded_at <= at else None)
                   for f in history.fees if f.term_start <= at),
        overrides=tuple(replace(o, revoked_at=o.revoked_at if o.revoked_at and o.revoked_at <= at else None)
                        for o in history.overrides if o.starts_at <= at),
        marks=tuple(m for m in history.marks if m.at <= at),
        versions=tuple(v for v in history.versions if v.effective_from <= at))


def _check_valid_until(history: History, at: datetime, expected: TierState, valid_until: datetime | None) -> None:
    """validUntil is the latest end of the sources giving the tier at `at`, as they stood:
    with nothing more written, the tier holds to just before it; when neither the earned
    tier nor a lock gives it (fee terms and floors do), it ends exactly then; None: no
    tier, or it has no end."""
    if expected.effective == 0:
        assert valid_until is None, at
        return
    stood = _as_it_stood(history, at)
    if valid_until is None:
        assert tier_in_force(stood, at + timedelta(days=3650)).effective >= expected.effective, (at, stood)
        return
    # In UTC: arithmetic on a zoned datetime is wall-clock arithmetic, and just before
    # 03:00 on a spring-forward day is 02:59:59, a wall time that does not exist.
    valid_until = valid_until.astimezone(timezone.utc)
    if valid_until > at:
        assert tier_in_force(stood, valid_until - EPSILON).effective >= expected.effective, (at, valid_until, stood)
    if expected.lock is None and expected.earned < expected.effective:
        assert tier_in_force(stood, valid_until).effective < expected.effective, (at, valid_until, stood)


TIER_AT = """query($a: ID!, $at: DateTime!) { membership(accountId: $a, at: $at) { tier { code } earnedRank feeRank }
  tierAt(accountId: $a, at: $at) { toRank } }"""


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenario=histories())
async def test_every_reader_gives_the_tier_of_the_one_function(database, post_graphql, scenario):
    (programme_id, account_id, membership_id, _), instants = await _build(database, scenario)
    async with database.session() as s:
        history = await _history(s, programme_id, membership_id)
        member = await s.get(Membership, membership_id)
        programme = await s.get(Programme, programme_id)
        rates = {v.id: {t.rank: t.discount_rate for t in (await programmes.version_rules(s, v.id)).tiers}
                 for v in history.versions}
        # The cache of "now" is the history's latest earned state.
        latest = latest_mark(history.marks, datetime.max.replace(tzinfo=timezone.utc))
        assert member.earned_rank == latest.earned_rank and member.earned_until == latest.earned_until
        entries = set((await s.execute(select(QualifyingEntry.occurred_at).where(
            QualifyingEntry.membership_id == membership_id))).scalars())
        asked = sorted({t + d for t in instants | entries | _bounds(history) for d in (-EPSILON, timedelta(0), EPSILON)})
        for at in asked:
            expected = tier_in_force(history, at)
            sql = TierState(*(await s.execute(text("SELECT effective, earned, fee, floor, lock FROM tier_state_at(:m, :at)"),
                                              {"m": membership_id, "at": at})).one())
            assert sql == expected, (at, history)
            view = await membership_view(s, member, at, programme)
            assert view.state == expected, at
            _check_valid_until(history, at, expected, view.valid_until)
            state, row = await service.tier_at(s, member, at)
            mark = latest_mark(history.marks, at)
            assert state == expected and (row.id if row else None) == (mark.id if mark else None), at
            version = version_at(history.versions, at)
            rate = rates[version.id].get(expected.effective, Decimal(0)) if version and at >= member.joined_at else Decimal(0)
            assert (await tier_discount(s, account_id, "EUR", at)).rate == rate, at
    # The same through the API, at a few of the instants.
    account = to_global_id("Customer", account_id)
    for at in asked[:: max(len(asked) // 6, 1)]:
        expected = tier_in_force(history, at)
        result = await post_graphql(TIER_AT, {"a": account, "at": at.isoformat()})
        assert not result.errors, result.body
        tier = result.data["membership"]["tier"]
        assert (tier["code"] if tier else None) == (f"T{expected.effective}" if expected.effective else None), at
        assert (result.data["membership"]["earnedRank"], result.data["membership"]["feeRank"]) == (expected.earned, expected.fee)
        assert (result.data["tierAt"] or {"toRank": 0})["toRank"] == expected.effective, at
