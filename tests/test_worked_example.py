"""The worked example of the design, exactly, over GraphQL.

Programme "Agents": calendar-year window in Asia/Shanghai, 12-month fee terms, max_drop 1.
B (rank 1): fee 300,000, 10% off, 2 sessions, promotion 500,000, retention 300,000.
A (rank 2): fee 500,000, 20% off, 10 sessions, promotion 1,000,000, retention 800,000.
"""

from __future__ import annotations

from crm.auth import Principal, Role
from tests.helpers import new_customer, new_product, ok
from tests.programme_helpers import agents_programme, enroll

PLACE = """mutation($i: OrderPlaceInput!) { orderPlace(input: $i) {
  order { id total { amount } lines { id netUnitPrice { amount } tierCode } } errors { field code } } }"""
VIEW = """query($a: ID!, $at: DateTime) { membership(accountId: $a, at: $at) {
  id tier { code discountRate } earnedRank feeRank qualifyingVolume { amount currency } windowStart windowEnd
  nextTier { tier { code } amountToGo { amount } } amountToKeep { amount }
  training { granted used remaining }
  history { fromRank toRank reason at qualifyingVolume windowStart windowEnd explanation } } }"""
QUOTE = """query($a: ID!, $p: ID!, $at: DateTime) { priceQuote(accountId: $a, lines: [{productId: $p, quantity: 1}], at: $at) {
  tierCode discountRate total { amount currency } lines { netUnitPrice { amount } } } }"""
ASSESS = """mutation($p: ID!, $at: DateTime) { tierAssess(programmeId: $p, asOf: $at) {
  members promoted demoted expired errors { field code } } }"""


async def view(post_graphql, agent, at):
    result = await post_graphql(VIEW, {"a": agent, "at": at})
    assert not result.errors, result.body
    return result.data["membership"]


async def place(post_graphql, agent, product, quantity, at, paid=True):
    """An order placed paid: volume counts once paid (tiers.ledger.counted_at)."""
    return (await ok(post_graphql, PLACE, {"i": {"customerId": agent, "placedAt": at, "paid": paid,
                                                 "lines": [{"productId": product, "quantity": quantity}]}}, "orderPlace"))["order"]


async def test_the_worked_example(post_graphql):
    setup = await agents_programme(post_graphql, effective_from="2021-01-01T00:00:00+08:00")
    programme = setup["programme"]
    agent = await new_customer(post_graphql, "Agent Co", classification="PARTNER")
    standard = await new_product(post_graphql, "STD", "100.00", currency="CNY")
    bulk = await new_product(post_graphql, "BULK", "10000.00", currency="CNY")

    # Year 1: the agent pays 300,000 on 10 January: tier B, 100.00 costs 90.00, 2 sessions.
    await enroll(post_graphql, agent, programme, "B", "300000", "2021-01-10T10:00:00+08:00")
    m = await view(post_graphql, agent, "2021-02-01T09:00:00+08:00")
    assert m["tier"] == {"code": "B", "discountRate": "0.1000"} and m["feeRank"] == 1 and m["earnedRank"] == 0
    assert m["training"] == {"granted": 2, "used": 0, "remaining": 2}
    assert m["nextTier"] == {"tier": {"code": "A"}, "amountToGo": {"amount": "1000000.00"}}
    quote = (await post_graphql(QUOTE, {"a": agent, "p": standard, "at": "2021-02-01T09:00:00+08:00"})).data["priceQuote"]
    assert quote == {"tierCode": "B", "discountRate": "0.1000", "total": {"amount": "90.00", "currency": "CNY"},
                     "lines": [{"netUnitPrice": {"amount": "90.00"}}]}
    order = await place(post_graphql, agent, standard, 1, "2021-02-01T09:00:00+08:00")
    assert order["lines"][0] == {"id": order["lines"][0]["id"], "netUnitPrice": {"amount": "90.00"}, "tierCode": "B"}

    # By June its net orders reach 1,000,000: the order that crosses the threshold promotes it to A.
    await place(post_graphql, agent, bulk, 110, "2021-05-01T10:00:00+08:00")  # 110 x 9,000 = 990,000
    assert (await view(post_graphql, agent, "2021-05-02T00:00:00+08:00"))["tier"]["code"] == "B"
    crossing = await place(post_graphql, agent, bulk, 2, "2021-06-10T10:00:00+08:00")  # + 18,000 at B's price
    assert crossing["total"]["amount"] == "18000.00"
    m = await view(post_graphql, agent, "2021-06-11T00:00:00+08:00")
    assert m["tier"]["code"] == "A" and m["earnedRank"] == 2
    assert m["qualifyingVolume"] == {"amount": "1008090.00", "currency": "CNY"}
    promotion = m["history"][-1]
    assert (promotion["fromRank"], promotion["toRank"], promotion["reason"]) == (1, 2, "PROMOTED")
    assert promotion["explanation"]["held_until"] == "2023-01-01T00:00:00+08:00"  # until the end of the next year
    assert promotion["at"].startswith("2021-06-10T02:00:00")  # the crossing order's instant (10:00 Shanghai)
    assert promotion["explanation"]["threshold"] == "1000000.00" and promotion["explanation"]["tier"] == "A"
    # The next 100.00 product costs 80.00; 8 more sessions, 10 in all.
    after = await place(post_graphql, agent, standard, 1, "2021-06-11T09:00:00+08:00")
    assert after["lines"][0]["netUnitPrice"] == {"amount": "80.00"} and after["lines"][0]["tierCode"] == "A"
    assert m["training"] == {"granted": 10, "used": 0, "remaining": 10}

    # A return subtracts; one that leaves the year at 1,000,000 or more keeps A. (Returning
    # the crossing order would undo A at once: tests/test_promotion_undo.py.)
    await ok(post_graphql, """mutation($id: ID!, $at: DateTime) { orderReturn(id: $id, returnedAt: $at) {
        order { id } errors { field code } } }""", {"id": after["id"], "at": "2021-07-01T10:00:00+08:00"}, "orderReturn")
    m = await view(post_graphql, agent, "2021-07-02T00:00:00+08:00")
    assert m["qualifyingVolume"]["amount"] == "1008090.00" and m["tier"]["code"] == "A"

    # The assessment after year 1 changes nothing: a promotion holds until the end of the next year.
    first = (await post_graphql(ASSESS, {"p": programme, "at": "2022-01-01T01:00:00+08:00"})).data["tierAssess"]
    assert (first["members"], first["promoted"], first["demoted"], first["expired"]) == (1, 0, 0, 0)

    # Year 2: 700,000 net at A's price, the last order at 23:30 on 31 December Shanghai time.
    await place(post_graphql, agent, bulk, 87, "2022-03-01T10:00:00+08:00")  # 87 x 8,000 = 696,000
    await place(post_graphql, agent, standard, 50, "2022-12-31T23:30:00+08:00")  # 50 x 80 = 4,000, still in year 2
    m = await view(post_graphql, agent, "2022-12-31T23:59:00+08:00")
    assert m["qualifyingVolume"]["amount"] == "700000.00"
    assert m["amountToKeep"] == {"amount": "100000.00"}  # A's retention of 800,000
    # Windows are shown in the programme's time zone.
    assert (m["windowStart"], m["windowEnd"]) == ("2022-01-01T00:00:00+08:00", "2023-01-01T00:00:00+08:00")

    # The assessment after 31 December of year 2 drops it to B, explained.
    second = (await post_graphql(ASSESS, {"p": programme, "at": "2023-01-01T00:30:00+08:00"})).data["tierAssess"]
    assert (second["members"], second["demoted"]) == (1, 1)
    m = await view(post_graphql, agent, "2023-01-02T00:00:00+08:00")
    assert m["tier"]["code"] == "B" and m["earnedRank"] == 1 and m["feeRank"] == 0
    demotion = m["history"][-1]
    assert (demotion["fromRank"], demotion["toRank"], demotion["reason"]) == (2, 1, "DEMOTED")
    assert demotion["qualifyingVolume"] == "700000.00"
    assert demotion["windowStart"].startswith("2021-12-31T16:00:00") and demotion["windowEnd"].startswith("2022-12-31T16:00:00")
    assert demotion["explanation"]["retention_threshold"] == "800000.00" and demotion["explanation"]["retained_rank"] == 1
    # Every step is explained: the fee bought B; at 990,090 the volume also earned B (the
    # tier in force stays B, the earned tier goes 0 -> 1, so B would outlive the fee term);
    # 1,008,090 earned A; the closed year 2 kept B.
    assert [(h["fromRank"], h["toRank"], h["reason"], h["explanation"]["earned_rank"]) for h in m["history"]] == [
        (0, 1, "FEE_PAID", 0), (1, 1, "EARNED", 1), (1, 2, "PROMOTED", 2), (2, 1, "DEMOTED", 1)]

    # Assessing again, and replaying every order and return once more, change nothing.
    again = (await post_graphql(ASSESS, {"p": programme, "at": "2023-01-01T00:30:00+08:00"})).data["tierAssess"]
    assert (again["promoted"], again["demoted"], again["expired"]) == (0, 0, 0)
    await ok(post_graphql, """mutation($a: ID!) { qualifyingReplay(accountId: $a) { membership { id } errors { code } } }""",
             {"a": agent}, "qualifyingReplay")
    assert await view(post_graphql, agent, "2023-01-02T00:00:00+08:00") == m

    # tierAt answers from history.
    tier_at = """query($a: ID!, $at: DateTime!) { tierAt(accountId: $a, at: $at) { toRank reason } }"""
    expected = {"2021-01-09T00:00:00+08:00": None, "2021-03-01T00:00:00+08:00": {"toRank": 1, "reason": "FEE_PAID"},
                "2021-12-31T00:00:00+08:00": {"toRank": 2, "reason": "PROMOTED"},
                "2023-01-02T00:00:00+08:00": {"toRank": 1, "reason": "DEMOTED"}}
    for at, answer in expected.items():
        assert (await post_graphql(tier_at, {"a": agent, "at": at})).data["tierAt"] == answer, at


async def test_two_quotes_at_one_instant_are_identical_whoever_asks(post_graphql):
    setup = await agents_programme(post_graphql, effective_from="2021-01-01T00:00:00+08:00")
    agent = await new_customer(post_graphql, "Agent Co", classification="PARTNER")
    product = await new_product(post_graphql, "STD", "33.33", currency="CNY")
    await enroll(post_graphql, agent, setup["programme"], "B", "300000", "2021-01-10T10:00:00+08:00")
    at = "2021-02-01T09:00:00+08:00"
    quotes = [(await post_graphql(QUOTE, {"a": agent, "p": product, "at": at}, as_=Principal(subject=who, role=Role.SALES))).data
              for who in ("ann", "bob")]
    assert quotes[0] == quotes[1]
    assert quotes[0]["priceQuote"]["lines"] == [{"netUnitPrice": {"amount": "30.00"}}]  # 33.33 x 0.9 = 29.997 -> 30.00
