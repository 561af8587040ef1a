"""Regressions of an outside attack on the grade programmes (issue [3/7]): concurrent
orders, instants that lie ahead or before what they follow, rules published into a past
already decided, and answers that must say "not found" or "say which".

The worked example's programme: B (10% off) from 500,000, A (20% off) from 1,000,000,
calendar years in Shanghai; every agent pays B's fee first (tests.test_promotion_undo)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from tests.conftest import GraphQLResult
from tests.helpers import new_customer, new_product, ok, refused
from tests.programme_helpers import AGENT_TIERS, agents_programme, enroll
from tests.test_promotion_undo import PAY, RETURN, agent_with_b
from tests.test_worked_example import PLACE, place, view

ADJUST = """mutation($m: ID!, $a: Decimal!, $at: DateTime) { qualifyingAdjust(membershipId: $m, amount: $a, reason: "Import",
  occurredAt: $at) { membership { id } errors { field code } } }"""
ENROLL = """mutation($i: MembershipEnrollInput!) { membershipEnroll(input: $i) { membership { id } errors { field code } } }"""
TIER_AT = """query($a: ID!, $at: DateTime!) { tierAt(accountId: $a, at: $at) { toRank } }"""


def _later(**delta) -> str:
    return (datetime.now(timezone.utc) + timedelta(**delta)).isoformat()


async def test_an_entry_counts_at_every_later_instant_of_its_window(post_graphql):
    """The deterministic form of two parallel paid orders: the one dated later was decided
    first (without the other, not yet committed) and fell short alone; the earlier one,
    decided second, must see that together they cross A's threshold."""
    world = await agent_with_b(post_graphql)
    await ok(post_graphql, ADJUST, {"m": world["membership"], "a": "990000", "at": "2021-03-01T00:00:00+08:00"}, "qualifyingAdjust")
    await ok(post_graphql, ADJUST, {"m": world["membership"], "a": "9000", "at": "2021-03-02T12:00:00+08:00"}, "qualifyingAdjust")
    assert (await view(post_graphql, world["agent"], "2021-03-03T00:00:00+08:00"))["tier"]["code"] == "B"
    await ok(post_graphql, ADJUST, {"m": world["membership"], "a": "9000", "at": "2021-03-02T11:00:00+08:00"}, "qualifyingAdjust")
    m = await view(post_graphql, world["agent"], "2021-03-03T00:00:00+08:00")
    assert (m["tier"]["code"], m["earnedRank"], m["qualifyingVolume"]["amount"]) == ("A", 2, "1008000.00")
    assert m["history"][-1]["reason"] == "PROMOTED" and m["history"][-1]["at"].startswith("2021-03-02T04:00:00")


async def test_parallel_payments_that_cross_a_threshold_together_promote(committed_client):
    async def post(query, variables=None, **_):
        response = await committed_client.post("/graphql", json={"query": query, "variables": variables or {}})
        return GraphQLResult(response.status_code, response.json(), response.headers)

    setup = await agents_programme(post, effective_from="2020-01-01T00:00:00+08:00")
    product = await new_product(post, "STD", "100.00", currency="CNY")
    for trial in range(4):
        agent = await new_customer(post, f"Racer {trial}", classification="PARTNER")
        await enroll(post, agent, setup["programme"], "B", "300000", _later(days=-30))
        await place(post, agent, product, 11000, _later(days=-1))  # 990,000 at B's price
        unpaid = [await place(post, agent, product, 100, _later(hours=-1), paid=False) for _ in range(2)]  # 9,000 each
        results = await asyncio.gather(*(post(PAY, {"id": o["id"]}) for o in unpaid))
        assert all(not r.errors and not r.data["orderMarkPaid"]["errors"] for r in results), [r.body for r in results]
        m = await view(post, agent, None)
        assert (m["tier"]["code"], m["qualifyingVolume"]["amount"]) == ("A", "1008000.00"), (trial, m["history"])
        # and orders placed in parallel now are each priced at the tier in force when placed
        orders = await asyncio.gather(*(post(PLACE, {"i": {"customerId": agent, "paid": True,
                                                            "lines": [{"productId": product, "quantity": 1}]}}) for _ in range(3)))
        assert {o.data["orderPlace"]["order"]["lines"][0]["tierCode"] for o in orders} == {"A"}, [o.body for o in orders]


async def test_instants_of_what_happened_are_never_ahead_of_now(post_graphql):
    world = await agent_with_b(post_graphql, paid_at=_later(days=-60))
    order = await place(post_graphql, world["agent"], world["standard"], 3, _later(days=-10))
    ahead = _later(days=28)
    assert await refused(post_graphql, RETURN, {"id": order["id"], "lines": None, "at": ahead}, "orderReturn") == [
        ("returnedAt", "OUT_OF_RANGE")]
    assert await refused(post_graphql, ADJUST, {"m": world["membership"], "a": "1000000", "at": ahead}, "qualifyingAdjust") == [
        ("occurredAt", "OUT_OF_RANGE")]
    fee = {"accountId": world["agent"], "programmeId": world["programme"], "tierCode": "A",
           "feePayment": {"amount": {"amount": "500000", "currency": "CNY"}, "paidAt": ahead}}
    assert (await refused(post_graphql, ENROLL, {"i": fee}, "membershipEnroll"))[0][1] == "OUT_OF_RANGE"
    # nothing was written, so an assessment of now is not blocked by history "ahead"
    m = await view(post_graphql, world["agent"], None)
    assert (m["tier"]["code"], m["qualifyingVolume"]["amount"]) == ("B", "270.00")
    assessed = await post_graphql("""mutation($p: ID!) { tierAssess(programmeId: $p) { members errors { code } } }""",
                                  {"p": world["programme"]})
    assert assessed.data["tierAssess"]["errors"] == [], assessed.body


async def test_a_return_comes_after_its_payment(post_graphql):
    world = await agent_with_b(post_graphql)
    order = await place(post_graphql, world["agent"], world["standard"], 4, "2021-06-10T10:00:00+08:00", paid=False)
    await ok(post_graphql, PAY, {"id": order["id"], "at": "2021-06-15T10:00:00+08:00"}, "orderMarkPaid")
    for at in ("2021-03-01T00:00:00+08:00", "2021-06-15T09:59:59.999999+08:00", "2020-12-01T00:00:00+08:00"):
        assert await refused(post_graphql, RETURN, {"id": order["id"], "lines": None, "at": at}, "orderReturn") == [
            ("returnedAt", "OUT_OF_RANGE")], at
    assert (await view(post_graphql, world["agent"], "2021-07-01T00:00:00+08:00"))["qualifyingVolume"]["amount"] == "360.00"
    await ok(post_graphql, RETURN, {"id": order["id"], "lines": None, "at": "2021-06-15T10:00:00+08:00"}, "orderReturn")


async def test_a_version_cannot_take_effect_in_a_past_already_decided(post_graphql):
    world = await agent_with_b(post_graphql)
    await place(post_graphql, world["agent"], world["standard"], 3, "2021-04-01T10:00:00+08:00")
    bolder = [{**AGENT_TIERS[0]}, {**AGENT_TIERS[1], "discountRate": "0.50", "promotionThreshold": "2000000"}]
    draft = (await ok(post_graphql, """mutation($p: ID!, $t: [TierInput!]!) { ruleVersionCreate(programmeId: $p, tiers: $t) {
        version { id } errors { field code } } }""", {"p": world["programme"], "t": bolder}, "ruleVersionCreate"))["version"]["id"]
    publish = """mutation($v: ID!, $at: DateTime!) { ruleVersionPublish(id: $v, effectiveFrom: $at) {
        version { id status } errors { field code } } }"""
    assert await refused(post_graphql, publish, {"v": draft, "at": "2021-02-15T00:00:00+08:00"}, "ruleVersionPublish") == [
        ("effectiveFrom", "OUT_OF_RANGE")]
    assert (await view(post_graphql, world["agent"], "2021-04-01T12:00:00+08:00"))["tier"]["code"] == "B"
    published = await ok(post_graphql, publish, {"v": draft, "at": "2021-04-01T10:00:00+08:00"}, "ruleVersionPublish")
    assert published["version"]["status"] == "PUBLISHED"


async def test_tier_at_asks_which_programme_as_membership_does(post_graphql):
    world = await agent_with_b(post_graphql)
    other = await agents_programme(post_graphql, effective_from="2020-01-01T00:00:00+08:00", name="Agents 2")
    await enroll(post_graphql, world["agent"], other["programme"], "B", "300000", "2021-01-10T10:00:00+08:00")
    for query, variables in ((TIER_AT, {"a": world["agent"], "at": "2021-02-01T00:00:00+08:00"}),
                             ("query($a: ID!) { membership(accountId: $a) { id } }", {"a": world["agent"]})):
        result = await post_graphql(query, variables)
        assert result.error_codes == ["BAD_USER_INPUT"], result.body
        assert result.errors[0]["extensions"]["argument"] == "programmeId", result.body
