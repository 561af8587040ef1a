"""Regressions of the tier at an instant: each reader prices and shows the tier in force at
the instant asked (not today's earned tier), lapses count from their exact instants, an
assessment never runs ahead of time nor into the past under later history, and the
history explains itself with global IDs. (Programme "Agents" of tests.programme_helpers:
B fee 300,000, 10% off, promotion 500,000; A fee 500,000, 20% off, promotion 1,000,000.)"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from models import OverrideKind
from resolvers.ids import from_global_id
from tests.helpers import new_customer, new_product, ok
from tests.programme_helpers import agents_programme, enroll
from tiers import membership as service

VIEW = """query($a: ID!, $at: DateTime) { membership(accountId: $a, at: $at) { id tier { code } earnedRank feeRank
  feePayments { id } overrides { id } history { fromRank toRank reason at earnedRank qualifyingVolume windowStart explanation } } }"""
TIER_AT = """query($a: ID!, $at: DateTime!) { tierAt(accountId: $a, at: $at) { toRank reason at } }"""
QUOTE = """query($a: ID!, $p: ID!, $at: DateTime) { priceQuote(accountId: $a, lines: [{productId: $p, quantity: 1}], at: $at) {
  tierCode discountRate } }"""
ADJUST = """mutation($m: ID!, $a: Decimal!, $at: DateTime) { qualifyingAdjust(membershipId: $m, amount: $a, reason: "Imported",
  occurredAt: $at) { membership { id } errors { code } } }"""
ASSESS = """mutation($p: ID!, $at: DateTime) { tierAssess(programmeId: $p, asOf: $at) { members expired errors { field code } } }"""
PLACE = """mutation($i: OrderPlaceInput!) { orderPlace(input: $i) { order { lines { tierCode netUnitPrice { amount } } }
  errors { field code } } }"""
DISTRIBUTION = """query($p: ID!, $at: DateTime) { tierDistribution(programmeId: $p, from: "2020-01-01T00:00:00Z", asOf: $at) {
  membersPerTier { rank members } } }"""


async def _data(post_graphql, query, variables, field):
    result = await post_graphql(query, variables)
    assert not result.errors, result.body
    return result.data[field]


async def _agent(post_graphql, effective_from="2020-01-01T00:00:00+08:00"):
    setup = await agents_programme(post_graphql, effective_from=effective_from)
    return setup, await new_customer(post_graphql, "Agent Co", classification="PARTNER")


async def test_a_past_instant_is_priced_at_the_tier_then_not_todays_earned_tier(post_graphql):
    setup, agent = await _agent(post_graphql, "2025-01-01T00:00:00+08:00")
    product = await new_product(post_graphql, "STD", "100.00", currency="CNY")
    member = (await enroll(post_graphql, agent, setup["programme"], "B", "300000", "2025-01-10T10:00:00+08:00"))["membership"]["id"]
    await ok(post_graphql, ADJUST, {"m": member, "a": "1000000", "at": "2025-03-01T00:00:00+08:00"}, "qualifyingAdjust")
    before, after = "2025-02-01T00:00:00+08:00", "2025-03-02T00:00:00+08:00"
    for at, code, rank, rate, earned in ((before, "B", 1, "0.1000", 0), (after, "A", 2, "0.2000", 2)):
        view = await _data(post_graphql, VIEW, {"a": agent, "at": at}, "membership")
        assert (view["tier"]["code"], view["earnedRank"]) == (code, earned), at
        assert (await _data(post_graphql, QUOTE, {"a": agent, "p": product, "at": at}, "priceQuote")) == {
            "tierCode": code, "discountRate": rate}, at
        assert (await _data(post_graphql, TIER_AT, {"a": agent, "at": at}, "tierAt"))["toRank"] == rank, at
    order = (await ok(post_graphql, PLACE, {"i": {"customerId": agent, "placedAt": "2025-02-15T10:00:00+08:00",
                                                  "lines": [{"productId": product, "quantity": 1}]}}, "orderPlace"))["order"]
    assert order["lines"] == [{"tierCode": "B", "netUnitPrice": {"amount": "90.00"}}]


async def test_an_assessment_ahead_of_time_is_refused_and_changes_nothing(post_graphql):
    setup, agent = await _agent(post_graphql)
    paid = datetime.now(timezone.utc) - timedelta(days=30)
    await enroll(post_graphql, agent, setup["programme"], "B", "300000", paid.isoformat())
    next_year = (datetime.now(timezone.utc) + timedelta(days=366)).isoformat()
    result = await _data(post_graphql, ASSESS, {"p": setup["programme"], "at": next_year}, "tierAssess")
    assert [e["code"] for e in result["errors"]] == ["OUT_OF_RANGE"] and result["members"] == 0
    view = await _data(post_graphql, VIEW, {"a": agent, "at": None}, "membership")
    assert view["tier"]["code"] == "B" and [h["reason"] for h in view["history"]] == ["FEE_PAID"]


async def test_an_assessment_before_later_history_is_refused(post_graphql):
    setup, agent = await _agent(post_graphql)
    await enroll(post_graphql, agent, setup["programme"], "B", "300000", "2025-06-01T00:00:00+08:00")
    result = await _data(post_graphql, ASSESS, {"p": setup["programme"], "at": "2025-03-01T00:00:00+08:00"}, "tierAssess")
    assert [e["code"] for e in result["errors"]] == ["OUT_OF_RANGE"]


async def test_tier_at_sees_lapses_at_their_instant_before_any_assessment(post_graphql, database):
    setup, agent = await _agent(post_graphql)
    now = datetime.now(timezone.utc)
    paid = (now - timedelta(days=400)).isoformat()  # a 12-month term: ended about a month ago
    member = (await enroll(post_graphql, agent, setup["programme"], "B", "300000", paid))["membership"]["id"]
    async with database.session() as session, session.begin():  # a floor A that expired yesterday
        await service.set_override(session, from_global_id(member)[1], kind=OverrideKind.FLOOR, tier_code="A",
                                   reason="Launch partner", expires_at=now - timedelta(days=1), at=now - timedelta(days=20),
                                   actor_id=None)
    for at, rank in ((now - timedelta(days=40), 1), (now - timedelta(days=10), 2), (now, 0)):
        view = await _data(post_graphql, VIEW, {"a": agent, "at": at.isoformat()}, "membership")
        assert (view["tier"]["code"] if view["tier"] else None) == {0: None, 1: "B", 2: "A"}[rank], at
        assert (await _data(post_graphql, TIER_AT, {"a": agent, "at": at.isoformat()}, "tierAt"))["toRank"] == rank, at
    counts = await _data(post_graphql, DISTRIBUTION, {"p": setup["programme"], "at": now.isoformat()}, "tierDistribution")
    assert counts["membersPerTier"] == [{"rank": 0, "members": 1}]


async def test_a_lapse_says_what_lapsed_by_global_id_and_reports_no_window_volume(post_graphql):
    setup, agent = await _agent(post_graphql)
    await enroll(post_graphql, agent, setup["programme"], "B", "300000", "2024-01-01T00:00:00+08:00")
    result = await _data(post_graphql, ASSESS, {"p": setup["programme"], "at": "2025-01-02T00:00:00+08:00"}, "tierAssess")
    assert (result["errors"], result["expired"]) == ([], 1)
    view = await _data(post_graphql, VIEW, {"a": agent, "at": "2025-01-03T00:00:00+08:00"}, "membership")
    fee_paid, lapse = view["history"]
    assert fee_paid["explanation"]["fee_payment"] == view["feePayments"][0]["id"]  # a global ID, not a row id
    assert (lapse["reason"], lapse["fromRank"], lapse["toRank"]) == ("EXPIRED", 1, 0)
    assert lapse["explanation"]["lapsed"] == [view["feePayments"][0]["id"]]
    assert lapse["explanation"]["rule_version"] == setup["version"]
    assert lapse["qualifyingVolume"] is None and lapse["windowStart"] is None and "volume" not in lapse["explanation"]


async def test_override_explanations_carry_global_ids(post_graphql, database):
    setup, agent = await _agent(post_graphql)
    member = (await enroll(post_graphql, agent, setup["programme"], "B", "300000", "2026-01-05T00:00:00+08:00"))["membership"]["id"]
    await ok(post_graphql, """mutation($m: ID!) { tierOverrideSet(membershipId: $m, kind: FLOOR, tierCode: "A", reason: "Key") {
        membership { id } errors { code } } }""", {"m": member}, "tierOverrideSet")
    view = await _data(post_graphql, VIEW, {"a": agent, "at": None}, "membership")
    assert view["history"][-1]["explanation"]["override"] == view["overrides"][0]["id"]


async def test_earning_the_tier_held_by_fee_is_no_promotion_from_a_tier_to_itself(post_graphql):
    setup, agent = await _agent(post_graphql)
    member = (await enroll(post_graphql, agent, setup["programme"], "B", "300000", "2026-01-05T00:00:00+08:00"))["membership"]["id"]
    await ok(post_graphql, ADJUST, {"m": member, "a": "600000", "at": "2026-02-01T00:00:00+08:00"}, "qualifyingAdjust")
    view = await _data(post_graphql, VIEW, {"a": agent, "at": "2026-02-02T00:00:00+08:00"}, "membership")
    assert [(h["fromRank"], h["toRank"], h["reason"], h["earnedRank"]) for h in view["history"]] == [
        (0, 1, "FEE_PAID", 0), (1, 1, "EARNED", 1)]
    assert view["history"][-1]["explanation"]["earned_before"] == 0


async def test_a_back_dated_promotion_takes_effect_at_the_latest_history_row(post_graphql):
    setup, agent = await _agent(post_graphql)
    member = (await enroll(post_graphql, agent, setup["programme"], "B", "300000", "2025-01-10T00:00:00+08:00"))["membership"]["id"]
    await enroll(post_graphql, agent, setup["programme"], "A", "500000", "2025-04-01T00:00:00+08:00")  # upgraded by fee
    await ok(post_graphql, ADJUST, {"m": member, "a": "1000000", "at": "2025-03-01T00:00:00+08:00"}, "qualifyingAdjust")
    view = await _data(post_graphql, VIEW, {"a": agent, "at": "2025-03-15T00:00:00+08:00"}, "membership")
    assert (view["tier"]["code"], view["earnedRank"]) == ("B", 0)  # the past is not rewritten
    promotion = view["history"][-1]
    assert (promotion["reason"], promotion["fromRank"], promotion["toRank"], promotion["earnedRank"]) == ("EARNED", 2, 2, 2)
    assert promotion["at"].startswith("2025-03-31T16:00:00") and promotion["explanation"]["entry_at"] == "2025-03-01T00:00:00+08:00"
    view = await _data(post_graphql, VIEW, {"a": agent, "at": "2025-04-02T00:00:00+08:00"}, "membership")
    assert (view["tier"]["code"], view["earnedRank"]) == ("A", 2)



async def test_a_version_id_used_again_after_a_restore_is_read_afresh(database, post_graphql):
    # A restored or truncated database (TRUNCATE ... RESTART IDENTITY, as the committed
    # tests and a demo reset do) hands the ids of a running process's versions to new
    # ones; the process must show the new version's tiers, not the ones it kept.
    from sqlalchemy import text

    from models import Base
    from tests.programme_helpers import AGENT_TIERS

    setup, agent = await _agent(post_graphql)
    await enroll(post_graphql, agent, setup["programme"], "B", "300000", "2025-01-10T10:00:00+08:00")
    assert (await _data(post_graphql, VIEW, {"a": agent, "at": "2025-06-01T00:00:00+08:00"}, "membership"))["tier"]["code"] == "B"
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    async with database.session() as s, s.begin():
        await s.execute(text(f"TRUNCATE {tables} CASCADE"))  # rolled back with the test, as is the restart
        await s.execute(text("SELECT setval(pg_get_serial_sequence('rule_version', 'id'), :id, false)"),
                        {"id": int(from_global_id(setup["version"])[1])})
    renamed = [{**tier, "code": "NEW_" + tier["code"]} for tier in AGENT_TIERS]
    again = await agents_programme(post_graphql, effective_from="2020-01-01T00:00:00+08:00", tiers=renamed)
    assert again["version"] == setup["version"]  # the same id, another version
    agent = await new_customer(post_graphql, "Agent Co", classification="PARTNER")
    await enroll(post_graphql, agent, again["programme"], "NEW_B", "300000", "2025-01-10T10:00:00+08:00")
    assert (await _data(post_graphql, VIEW, {"a": agent, "at": "2025-06-01T00:00:00+08:00"}, "membership"))["tier"]["code"] == "NEW_B"
