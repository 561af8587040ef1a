"""Property: the set-based SQL assessment and the pure function tiers.engine.assess
decide the same for every member, over random programmes, tiers, ledgers and dates; and
the tier in force it gives each member is what the one function of the tier at an
instant (tier_state_at) gives for the new earned rank, the fee terms and the overrides;
and the tier in force before it (what previews and history rows move members from) is
what that function gives from the stored history (earned ranks of random history rows)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from models import (Customer, FeePayment, Membership, Programme, QualifyingEntry, RuleVersion, Tier, TierChange,
                    TierOverride)
from tiers.assessment import decisions
from tiers.engine import Entry, MemberState, assess
from tiers.rules import ProgrammeRules, Rules, TierRule

ZONES = ["UTC", "Asia/Shanghai", "Europe/Berlin", "America/New_York", "Australia/Sydney"]
START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def instants(days: int = 3 * 365):
    return st.integers(min_value=0, max_value=days * 24 * 4).map(lambda quarter_hours: START + timedelta(minutes=15 * quarter_hours))


@st.composite
def tier_sets(draw):
    count = draw(st.integers(1, 4))
    promotions = sorted(draw(st.lists(st.integers(1, 60), min_size=count, max_size=count, unique=True)))
    tiers, last_retention = [], -1
    for rank, promotion in enumerate(promotions, start=1):
        retention = draw(st.integers(min(last_retention + 1, promotion), promotion))
        retention = max(retention, last_retention + 1)
        if retention > promotion:
            retention = promotion
        last_retention = retention
        tiers.append(TierRule(rank=rank, code=f"T{rank}", name=f"Tier {rank}", entry_fee=Decimal(0),
                              discount_rate=Decimal("0.05") * rank, training_quota=rank,
                              promotion_threshold=Decimal(promotion * 1000), retention_threshold=Decimal(retention * 1000)))
    return tiers


@st.composite
def scenarios(draw):
    kind = draw(st.sampled_from(["calendar_year", "anniversary", "rolling_months"]))
    programme = ProgrammeRules(
        window_kind=kind, time_zone=draw(st.sampled_from(ZONES)),
        window_months=draw(st.integers(1, 6)) if kind == "rolling_months" else None,
        demotion_policy=draw(st.sampled_from(["never", "at_period_end"])), max_drop=draw(st.integers(0, 3)),
        grace_days=draw(st.integers(0, 40)),
    )
    tiers = draw(tier_sets())
    as_of = draw(instants())
    members, extras = [], []
    for _ in range(draw(st.integers(1, 6))):
        joined = draw(instants().filter(lambda t: t <= as_of))
        entries = tuple(Entry(draw(instants()), Decimal(draw(st.integers(-20, 60)) * 500))
                        for _ in range(draw(st.integers(0, 10))))
        members.append(MemberState(
            joined_at=joined, earned_rank=draw(st.integers(0, len(tiers))),
            earned_until=draw(st.none() | instants()), assessed_through=draw(st.none() | instants()), entries=entries))
        # Fee terms (some refunded) and overrides (some expired or revoked) around as_of,
        # bounds falling on as_of itself included; ranks up to one past the top tier so
        # that clamping is exercised too.
        def near(low: int, high: int):
            return st.integers(low, high).map(lambda days: as_of + timedelta(days=days))

        fees = []
        for start in draw(st.lists(near(-400, 5), max_size=3)):
            end = draw(near(-10, 400).filter(lambda end: end > start))
            fees.append((draw(st.integers(1, len(tiers) + 1)), start, end, draw(st.none() | st.just(as_of) | near(-10, 10))))
        overrides = [(draw(st.sampled_from(["floor", "lock"])), draw(st.integers(0, len(tiers) + 1)), draw(near(-400, 5)),
                      draw(st.none() | near(-10, 400)), draw(st.none() | near(-10, 10))) for _ in range(draw(st.integers(0, 3)))]
        marks = [(draw(near(-400, 5)), draw(st.integers(0, len(tiers) + 1))) for _ in range(draw(st.integers(0, 3)))]
        extras.append((fees, overrides, marks))
    return programme, tiers, as_of, members, extras


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(scenario=scenarios())
async def test_sql_and_pure_assessment_agree(database, scenario):
    programme_rules, tiers, as_of, members, extras = scenario
    async with database.session() as session, session.begin():
        programme = Programme(name=f"Programme {uuid.uuid4().hex}", kind="member", currency="EUR",
                              time_zone=programme_rules.time_zone, window_kind=programme_rules.window_kind,
                              window_months=programme_rules.window_months, fee_term_months=12,
                              demotion_policy=programme_rules.demotion_policy, max_drop=programme_rules.max_drop,
                              grace_days=programme_rules.grace_days)
        session.add(programme)
        await session.flush()
        version = RuleVersion(programme_id=programme.id, number=1, status="published",
                              effective_from=datetime(2000, 1, 1, tzinfo=timezone.utc))
        session.add(version)
        await session.flush()
        session.add_all(Tier(rule_version_id=version.id, rank=t.rank, code=t.code, name=t.name, entry_fee=t.entry_fee,
                             discount_rate=t.discount_rate, training_quota=t.training_quota,
                             promotion_threshold=t.promotion_threshold, retention_threshold=t.retention_threshold)
                        for t in tiers)
        ids = []
        for state in members:
            account = Customer(name="Member", kind="person")
            session.add(account)
            await session.flush()
            membership = Membership(account_id=account.id, programme_id=programme.id, joined_at=state.joined_at,
                                    earned_rank=state.earned_rank, earned_until=state.earned_until,
                                    assessed_through=state.assessed_through)
            session.add(membership)
            await session.flush()
            session.add_all(QualifyingEntry(membership_id=membership.id, amount=e.amount, occurred_at=e.occurred_at,
                                            source=f"test:{i}") for i, e in enumerate(state.entries))
            fees, overrides, marks = extras[len(ids)]
            session.add_all(TierChange(membership_id=membership.id, from_rank=0, to_rank=0, reason="earned", at=at,
                                       explanation={}, earned_rank=rank) for at, rank in marks)
            session.add_all(FeePayment(membership_id=membership.id, tier_rank=rank, amount=Decimal(100), currency="EUR",
                                       term_start=start, term_end=end, refunded_at=refunded) for rank, start, end, refunded in fees)
            session.add_all(TierOverride(membership_id=membership.id, kind=kind, tier_rank=rank, reason="test", starts_at=start,
                                         expires_at=expires, revoked_at=revoked) for kind, rank, start, expires, revoked in overrides)
            ids.append(membership.id)
        await session.flush()
        rows = {row["id"]: row for row in await decisions(session, programme.id, version.id, as_of)}
        # The tier in force after the decision: the one function (tier_state_at), given
        # the new earned rank the assessment has not written yet.
        in_force, before = {}, {}
        for membership_id in ids:
            in_force[membership_id] = (await session.execute(
                text("SELECT effective FROM tier_state_at(:m, :at, :earned)"),
                {"m": membership_id, "at": as_of, "earned": rows[membership_id]["new_earned"]})).scalar_one()
            before[membership_id] = (await session.execute(
                text("SELECT effective FROM tier_state_at(:m, :at)"), {"m": membership_id, "at": as_of})).scalar_one()

    rules = Rules(version.id, tuple(tiers))
    for membership_id, state in zip(ids, members):
        expected = assess(state, as_of, programme_rules, rules)
        row = rows[membership_id]
        assert row["reason"] == expected.reason, (state, expected, row)
        assert row["new_effective"] == in_force[membership_id], (state, extras, row)
        assert row["now_effective"] == before[membership_id], (state, extras, row)
        if expected.reason:
            assert row["new_earned"] == expected.earned_rank, (state, expected, row)
            assert row["new_until"] == expected.earned_until, (state, expected, row)
