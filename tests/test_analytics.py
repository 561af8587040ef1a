"""Analytics checked against figures worked out by hand.

Fixture (EUR, period 2026 = [2026-01-01, 2027-01-01) UTC):
  C1 (Web)    order 5,000                      net  5,000
  C2 (Web)    order 2,500                      net  2,500
  C3 (Fair)   order 1,500                      net  1,500
  C4 (none)   order   600                      net    600
  C5 (none)   order   300; a December 2025 order of 500 returned in February 2026: net -200
  C6 (none)   order 1,000 cancelled            not counted
Spend: Web 3,000 over all of 2026; Fair 1,000 over [2025-12-01, 2026-02-01) = 62 days,
31 of them in 2026, so 500.00 counts.
"""

from __future__ import annotations

import pytest

from tests.helpers import gid, new_channel, new_customer, new_product, ok

PERIOD = {"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z", "currency": "EUR"}
PLACE = """mutation($i: OrderPlaceInput!) { orderPlace(input: $i) { order { id } errors { code } } }"""


@pytest.fixture
async def book(post_graphql):
    web, fair = await new_channel(post_graphql, "Web", "WEB"), await new_channel(post_graphql, "Fair", "EVENT")
    unit = await new_product(post_graphql, "UNIT", "1.00")
    customers = {}
    for name, channel in (("C1", web), ("C2", web), ("C3", fair), ("C4", None), ("C5", None), ("C6", None)):
        customers[name] = await new_customer(post_graphql, name, **({"sourceChannelId": channel} if channel else {}))

    async def order(name, quantity, at, paid=True):
        return (await ok(post_graphql, PLACE, {"i": {"customerId": customers[name], "placedAt": at, "paid": paid,
                                                     "lines": [{"productId": unit, "quantity": quantity}]}}, "orderPlace"))["order"]["id"]

    for name, amount in (("C1", 5000), ("C2", 2500), ("C3", 1500), ("C4", 600), ("C5", 300)):
        await order(name, amount, "2026-03-01T10:00:00Z")
    december = await order("C5", 500, "2025-12-15T10:00:00Z")
    await ok(post_graphql, "mutation($id: ID!) { orderReturn(id: $id, returnedAt: \"2026-02-01T10:00:00Z\") { order { id } errors { code } } }",
             {"id": december}, "orderReturn")
    cancelled = await order("C6", 1000, "2026-04-01T10:00:00Z", paid=False)
    await ok(post_graphql, "mutation($id: ID!) { orderCancel(id: $id) { order { id } errors { code } } }", {"id": cancelled}, "orderCancel")
    spend = """mutation($c: ID!, $s: Date!, $e: Date!, $a: Decimal!) { channelSpendRecord(input: {channelId: $c, periodStart: $s,
        periodEnd: $e, amount: {amount: $a, currency: "EUR"}}) { spend { id } errors { code } } }"""
    await ok(post_graphql, spend, {"c": web, "s": "2026-01-01", "e": "2027-01-01", "a": "3000"}, "channelSpendRecord")
    await ok(post_graphql, spend, {"c": fair, "s": "2025-12-01", "e": "2026-02-01", "a": "1000"}, "channelSpendRecord")
    return {**customers, "web": web, "fair": fair}


async def test_revenue_concentration(post_graphql, book):
    result = await post_graphql("""query($from: DateTime!, $to: DateTime!, $currency: String!) {
      revenueConcentration(from: $from, to: $to, currency: $currency) {
        totalRevenue { amount } customersWithRevenue top20Count top20Share customersFor80Percent
        customers { rank revenue { amount } share cumulativeShare abcClass customer { name } } } }""", PERIOD)
    assert not result.errors, result.body
    r = result.data["revenueConcentration"]
    # 5,000 + 2,500 + 1,500 + 600 = 9,600 (C5's -200 is not positive revenue)
    assert r["totalRevenue"] == {"amount": "9600.00"} and r["customersWithRevenue"] == 4
    # top 20% of 4 customers = ceil(0.8) = 1 customer: 5,000 / 9,600 = 0.5208
    assert (r["top20Count"], r["top20Share"]) == (1, "0.5208")
    # C1 0% before -> A; C2 52.08% before -> A; C3 78.13% before -> A; C4 93.75% before -> B; C5 negative -> C
    assert [(c["customer"]["name"], c["rank"], c["revenue"]["amount"], c["abcClass"]) for c in r["customers"]] == [
        ("C1", 1, "5000.00", "A"), ("C2", 2, "2500.00", "A"), ("C3", 3, "1500.00", "A"), ("C4", 4, "600.00", "B"),
        ("C5", 5, "-200.00", "C")]
    assert [c["share"] for c in r["customers"]] == ["0.5208", "0.2604", "0.1563", "0.0625", "0.0000"]
    assert [c["cumulativeShare"] for c in r["customers"]] == ["0.5208", "0.7813", "0.9375", "1.0000", "1.0000"]
    # 2 customers make 78.1% < 80%, 3 make 93.75%: the smallest number making 80% is 3
    assert r["customersFor80Percent"] == 3


async def test_a_customer_merged_during_the_period_counts_once_in_the_survivor(post_graphql, book):
    """C4 (600) merged into C2 (2,500) after their orders: the merge moves C4's order to
    C2, so C2 has 3,100 and C4 is gone from the ranking; the total stays 9,600.
    C1 5,000 (0% before -> A), C2 3,100 (52.08% before -> A), C3 1,500 (84.38% before
    -> B), C5 -200 -> C. Top 20% of 3 positive customers = ceil(0.6) = 1: C1, 0.5208.
    Two customers make 84.4% >= 80%: customersFor80Percent = 2."""
    await ok(post_graphql, "mutation($into: ID!, $from: ID!) { customerMerge(intoId: $into, fromId: $from) { customer { id } "
             "errors { code } } }", {"into": book["C2"], "from": book["C4"]}, "customerMerge")
    result = await post_graphql("""query($from: DateTime!, $to: DateTime!, $currency: String!) {
      revenueConcentration(from: $from, to: $to, currency: $currency) {
        totalRevenue { amount } customersWithRevenue top20Count top20Share customersFor80Percent
        customers { revenue { amount } share cumulativeShare abcClass customer { name } } }
      channelPerformance(from: $from, to: $to, currency: $currency) { channel { name } revenue { amount } } }""", PERIOD)
    assert not result.errors, result.body
    r = result.data["revenueConcentration"]
    assert r["totalRevenue"] == {"amount": "9600.00"} and r["customersWithRevenue"] == 3
    assert (r["top20Count"], r["top20Share"], r["customersFor80Percent"]) == (1, "0.5208", 2)
    assert [(c["customer"]["name"], c["revenue"]["amount"], c["share"], c["cumulativeShare"], c["abcClass"])
            for c in r["customers"]] == [
        ("C1", "5000.00", "0.5208", "0.5208", "A"), ("C2", "3100.00", "0.3229", "0.8438", "A"),
        ("C3", "1500.00", "0.1563", "1.0000", "B"), ("C5", "-200.00", "0.0000", "1.0000", "C")]
    # C2 came from Web: Web's revenue is C1's 5,000 and the survivor's 3,100.
    revenue = {c["channel"]["name"]: c["revenue"]["amount"] for c in result.data["channelPerformance"]}
    assert revenue["Web"] == "8100.00"


async def test_channel_performance(post_graphql, book):
    result = await post_graphql("""query($from: DateTime!, $to: DateTime!, $currency: String!) {
      channelPerformance(from: $from, to: $to, currency: $currency) {
        channel { name } spend { amount } customersAcquired orders revenue { amount } revenuePerCustomer { amount }
        roi costPerCustomer { amount } note } }""", PERIOD)
    assert not result.errors, result.body
    rows = {r["channel"]["name"]: r for r in result.data["channelPerformance"]}
    # Web: spend 3,000; C1 + C2 acquired (created in 2026), 2 orders, 7,500;
    # 7,500 / 2 = 3,750 per customer; ROI (7,500 - 3,000) / 3,000 = 1.5; 3,000 / 2 = 1,500 per customer
    assert rows["Web"] == {"channel": {"name": "Web"}, "spend": {"amount": "3000.00"}, "customersAcquired": 2, "orders": 2,
                           "revenue": {"amount": "7500.00"}, "revenuePerCustomer": {"amount": "3750.00"}, "roi": "1.5000",
                           "costPerCustomer": {"amount": "1500.00"}, "note": None}
    # Fair: 1,000 x 31 / 62 = 500.00; C3: 1,500; ROI (1,500 - 500) / 500 = 2
    assert rows["Fair"]["spend"] == {"amount": "500.00"} and rows["Fair"]["roi"] == "2.0000"
    assert rows["Fair"]["costPerCustomer"] == {"amount": "500.00"}


async def test_a_period_without_spend_gives_null_with_the_reason(post_graphql, book):
    result = await post_graphql("""{ channelPerformance(from: "2027-01-01T00:00:00Z", to: "2027-02-01T00:00:00Z", currency: "EUR") {
        channel { name } spend { amount } roi costPerCustomer { amount } revenuePerCustomer { amount } note } }""")
    rows = {r["channel"]["name"]: r for r in result.data["channelPerformance"]}
    assert rows["Web"]["roi"] is None and rows["Web"]["costPerCustomer"] is None and rows["Web"]["revenuePerCustomer"] is None
    assert "no spend recorded" in rows["Web"]["note"] and "no customers acquired" in rows["Web"]["note"]
    assert rows["Web"]["spend"] == {"amount": "0.00"}


async def test_no_orders_at_all(post_graphql):
    result = await post_graphql("""{ revenueConcentration(from: "2026-01-01T00:00:00Z", to: "2027-01-01T00:00:00Z", currency: "EUR") {
        totalRevenue { amount } customersWithRevenue top20Count top20Share customersFor80Percent customers { rank } } }""")
    assert result.data["revenueConcentration"] == {"totalRevenue": {"amount": "0.00"}, "customersWithRevenue": 0, "top20Count": 0,
                                                   "top20Share": "0.0000", "customersFor80Percent": 0, "customers": []}


@pytest.mark.parametrize(
    ("args", "argument"),
    [({"from": "2026-01-01T00:00:00", "to": "2027-01-01T00:00:00Z", "currency": "EUR"}, "from"),
     ({"from": "2027-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z", "currency": "EUR"}, "to"),
     ({"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z", "currency": "EURO"}, "currency")],
)
async def test_bad_periods_are_refused(post_graphql, args, argument):
    result = await post_graphql("""query($from: DateTime!, $to: DateTime!, $currency: String!) {
      revenueConcentration(from: $from, to: $to, currency: $currency) { customersWithRevenue } }""", args)
    assert result.error_codes == ["BAD_USER_INPUT"] and result.errors[0]["extensions"]["argument"] == argument



async def test_tier_distribution(post_graphql):
    """Agents (B: promotion 500,000; A: promotion 1,000,000), all three paid B's fee on
    5 January 2026. Qualifying volume by June: P1 950,000 (earns B by volume, within 10%
    of A: 50,000 to go), P2 1,200,000 (promoted to A on 1 February), P3 100,000."""
    from tests.programme_helpers import agents_programme, enroll

    setup = await agents_programme(post_graphql, effective_from="2020-01-01T00:00:00+08:00")
    adjust = """mutation($m: ID!, $a: Decimal!) { qualifyingAdjust(membershipId: $m, amount: $a, reason: "Imported volume",
        occurredAt: "2026-02-01T00:00:00Z") { membership { tier { code } } errors { code } } }"""
    for name, volume in (("P1", "950000"), ("P2", "1200000"), ("P3", "100000")):
        account = await new_customer(post_graphql, name, classification="PARTNER")
        membership = (await enroll(post_graphql, account, setup["programme"], "B", "300000", "2026-01-05T00:00:00+08:00"))["membership"]["id"]
        await ok(post_graphql, adjust, {"m": membership, "a": volume}, "qualifyingAdjust")
    result = await post_graphql("""query($p: ID!) { tierDistribution(programmeId: $p, from: "2026-01-01T00:00:00Z", asOf: "2026-06-01T00:00:00Z") {
        membersPerTier { rank members } promotions demotions
        nearNextTier { account { name } rank nextRank qualifyingVolume { amount currency } amountToGo { amount } } } }""",
                                {"p": setup["programme"]})
    assert not result.errors, result.body
    overview = result.data["tierDistribution"]
    assert overview["membersPerTier"] == [{"rank": 1, "members": 2}, {"rank": 2, "members": 1}]
    assert (overview["promotions"], overview["demotions"]) == (1, 0)  # P2 B -> A; P1 earning B it already held is no promotion
    assert overview["nearNextTier"] == [{"account": {"name": "P1"}, "rank": 1, "nextRank": 2,
                                         "qualifyingVolume": {"amount": "950000.00", "currency": "CNY"},
                                         "amountToGo": {"amount": "50000.00"}}]


async def test_funnel(post_graphql, database):
    """Stage changes (UTC), period [2026-01-01, 2026-07-01):
    O1 lead 01-01, qualified 01-11, proposal 01-31, won 02-10
    O2 lead 01-05, qualified 01-25, lost 02-04
    O3 lead 02-01, lost 02-03
    O4 lead 03-01 (open; 1,000 x 10%, expected close 2026-08-15)
    O5 lead 2025-12-20 (before the period), qualified 01-02 (open; 2,000 x 25%, close 2026-07-10)
    LEAD: entered O1-O4 = 4; moved on O1, O2 = 2 -> 0.5; days 10, 20, 2 -> median 10
    QUALIFIED: entered O1, O2, O5 = 3; moved on O1 = 1 -> 0.3333; ended stays 20, 10 -> 15
    PROPOSAL: O1 -> won: 1 of 1; 10 days. NEGOTIATION: none. Won 1, lost 2.
    Weighted open pipeline: 2026-07: 500.00 (O5), 2026-08: 100.00 (O4)."""
    from datetime import date, datetime

    from sqlalchemy import text

    customer = await new_customer(post_graphql, "Buyer")
    import base64

    customer_pk = int(base64.b64decode(customer).decode().split(":")[1])
    deals = {
        "O1": ("won", 100, None, [("lead", "2026-01-01"), ("qualified", "2026-01-11"), ("proposal", "2026-01-31"), ("won", "2026-02-10")]),
        "O2": ("lost", 0, None, [("lead", "2026-01-05"), ("qualified", "2026-01-25"), ("lost", "2026-02-04")]),
        "O3": ("lost", 0, None, [("lead", "2026-02-01"), ("lost", "2026-02-03")]),
        "O4": ("lead", 10, "2026-08-15", [("lead", "2026-03-01")]),
        "O5": ("qualified", 25, "2026-07-10", [("lead", "2025-12-20"), ("qualified", "2026-01-02")]),
    }
    amounts = {"O4": 1000, "O5": 2000}
    async with database.session() as session, session.begin():
        for name, (stage, probability, close, changes) in deals.items():
            pk = (await session.execute(text(
                "INSERT INTO opportunity (customer_id, name, amount, currency, stage, probability, expected_close, lost_reason) "
                "VALUES (:c, :n, :a, 'EUR', :s, :p, :close, :reason) RETURNING id"),
                {"c": customer_pk, "n": name, "a": amounts.get(name, 500), "s": stage, "p": probability,
                 "close": date.fromisoformat(close) if close else None, "reason": "x" if stage == "lost" else None})).scalar_one()
            previous = None
            for to_stage, day in changes:
                await session.execute(text(
                    "INSERT INTO opportunity_stage_change (opportunity_id, from_stage, to_stage, probability, changed_at) "
                    "VALUES (:o, :f, :t, 0, :at)"), {"o": pk, "f": previous, "t": to_stage,
                                                     "at": datetime.fromisoformat(f"{day}T00:00:00+00:00")})
                previous = to_stage
    result = await post_graphql("""{ funnel(from: "2026-01-01T00:00:00Z", to: "2026-07-01T00:00:00Z") {
        steps { stage entered advanced conversionRate medianDaysInStage } won lost
        weightedPipeline { month weightedAmount { amount currency } deals } } }""")
    assert not result.errors, result.body
    funnel = result.data["funnel"]
    assert funnel["steps"] == [
        {"stage": "LEAD", "entered": 4, "advanced": 2, "conversionRate": "0.5000", "medianDaysInStage": "10.00"},
        {"stage": "QUALIFIED", "entered": 3, "advanced": 1, "conversionRate": "0.3333", "medianDaysInStage": "15.00"},
        {"stage": "PROPOSAL", "entered": 1, "advanced": 1, "conversionRate": "1.0000", "medianDaysInStage": "10.00"},
        {"stage": "NEGOTIATION", "entered": 0, "advanced": 0, "conversionRate": None, "medianDaysInStage": None},
    ]
    assert (funnel["won"], funnel["lost"]) == (1, 2)
    assert funnel["weightedPipeline"] == [
        {"month": "2026-07", "weightedAmount": {"amount": "500.00", "currency": "EUR"}, "deals": 1},
        {"month": "2026-08", "weightedAmount": {"amount": "100.00", "currency": "EUR"}, "deals": 1},
    ]


async def test_segments_overlap_and_primary_by_priority(post_graphql, count_statements):
    """Customers: Alpha (retail, vip), Beta (retail), Gamma (food). Segments: "VIP"
    (tags contain vip, priority 1), "Retail" (tags contain retail, priority 2).
    Alpha is in both, primary VIP; Beta in Retail only; Gamma in none."""
    for name, tags in (("Alpha", ["retail", "vip"]), ("Beta", ["retail"]), ("Gamma", ["food"])):
        await new_customer(post_graphql, name, tags=tags)
    create = "mutation($i: SegmentCreateInput!) { segmentCreate(input: $i) { segment { id name memberCount primaryCount } errors { field code } } }"
    vip = (await ok(post_graphql, create, {"i": {"name": "VIP", "priority": 1, "filter": {"tags": {"containsAny": ["vip"]}}}}, "segmentCreate"))["segment"]
    retail = (await ok(post_graphql, create, {"i": {"name": "Retail", "priority": 2, "filter": {"tags": {"containsAny": ["retail"]}}}},
                       "segmentCreate"))["segment"]
    listing = (await post_graphql("{ segments { name memberCount primaryCount } }")).data["segments"]
    assert listing == [{"name": "VIP", "memberCount": 1, "primaryCount": 1}, {"name": "Retail", "memberCount": 2, "primaryCount": 1}]
    members = await post_graphql("query($s: ID!) { segmentMembers(segmentId: $s) { totalCount edges { node { name } } } }", {"s": retail["id"]})
    assert [e["node"]["name"] for e in members.data["segmentMembers"]["edges"]] == ["Alpha", "Beta"]
    async with count_statements() as log:
        primaries = await post_graphql("{ customers { edges { node { name primarySegment { name } } } } }")
    assert {e["node"]["name"]: (e["node"]["primarySegment"] or {}).get("name") for e in primaries.data["customers"]["edges"]} == {
        "Alpha": "VIP", "Beta": "Retail", "Gamma": None}
    # page, segments, primary segment of every customer on the page, segments by id: not one per customer
    assert len(log) == 4, log.statements
    # refusals
    assert (await post_graphql(create, {"i": {"name": "vip", "priority": 3, "filter": {}}})).data["segmentCreate"]["errors"] == [
        {"field": "name", "code": "DUPLICATE"}]
    deep = {"not": {"not": {"not": {"not": {"not": {"name": {"eq": "x"}}}}}}}
    assert (await post_graphql(create, {"i": {"name": "Deep", "priority": 3, "filter": deep}})).data["segmentCreate"]["errors"] == [
        {"field": "filter", "code": "INVALID_FILTER"}]
    # changing priority changes the primary
    await ok(post_graphql, "mutation($id: ID!) { segmentUpdate(id: $id, input: {priority: 0}) { segment { id } errors { code } } }",
             {"id": retail["id"]}, "segmentUpdate")
    alpha = await post_graphql('{ customers(filter: {name: {eq: "Alpha"}}) { edges { node { primarySegment { name } } } } }')
    assert alpha.data["customers"]["edges"][0]["node"]["primarySegment"] == {"name": "Retail"}
    await ok(post_graphql, "mutation($id: ID!) { segmentDelete(id: $id) { segment { id } errors { code } } }", {"id": vip["id"]}, "segmentDelete")
    assert [s["name"] for s in (await post_graphql("{ segments { name } }")).data["segments"]] == ["Retail"]


async def test_rfm(post_graphql):
    """As of 2026-07-01, 12-month window [2025-07-01, 2026-07-01), paid orders (EUR):
      A: 06-21 1,000; 05-01 1,000; 03-01 1,000  -> recency 10 d, F 3, M 3,000
      B: 06-01 500                              -> 30 d, F 1, M 500
      C: 2026-01-01 5,000; 2025-12-01 2,000     -> 181 d, F 2, M 7,000
      D: 2025-06-01 800 (before the window)     -> 395 d, F 0, M 0
      E: 06-21 200                              -> 10 d, F 1, M 200
    Scores = ceil(5 x cume_dist), ties share the last peer's:
      R (days desc): D 1, C 2, B 3, A/E 5        mean 3.2
      F (asc): D 1, B/E 3, C 4, A 5              mean 3.2
      M (asc): D 1, E 2, B 3, A 4, C 5           mean 3.0
    High = strictly above the mean: A HHH important value; B LLL general recall;
    C L H H important retain; D LLL general recall; E H L L general develop."""
    unit = await new_product(post_graphql, "UNIT", "1.00")
    orders = {"A": [("2026-06-21", 1000), ("2026-05-01", 1000), ("2026-03-01", 1000)], "B": [("2026-06-01", 500)],
              "C": [("2026-01-01", 5000), ("2025-12-01", 2000)], "D": [("2025-06-01", 800)], "E": [("2026-06-21", 200)]}
    for name, placed in orders.items():
        customer = await new_customer(post_graphql, name)
        for day, amount in placed:
            await ok(post_graphql, PLACE, {"i": {"customerId": customer, "placedAt": f"{day}T00:00:00Z", "paid": True,
                                                 "lines": [{"productId": unit, "quantity": amount}]}}, "orderPlace")
    query = """query($s: RfmSegment) { rfm(currency: "EUR", asOf: "2026-07-01T00:00:00Z", segment: $s) {
        segments { segment customers revenue { amount } }
        customers { totalCount edges { node { customer { name } recencyDays frequency monetary { amount }
                                              recencyScore frequencyScore monetaryScore segment } } } } }"""
    result = await post_graphql(query)
    assert not result.errors, result.body
    rows = {e["node"]["customer"]["name"]: e["node"] for e in result.data["rfm"]["customers"]["edges"]}
    expected = {
        "A": (10, 3, "3000.00", 5, 5, 4, "IMPORTANT_VALUE"), "B": (30, 1, "500.00", 3, 3, 3, "GENERAL_RECALL"),
        "C": (181, 2, "7000.00", 2, 4, 5, "IMPORTANT_RETAIN"), "D": (395, 0, "0.00", 1, 1, 1, "GENERAL_RECALL"),
        "E": (10, 1, "200.00", 5, 3, 2, "GENERAL_DEVELOP"),
    }
    assert {name: (r["recencyDays"], r["frequency"], r["monetary"]["amount"], r["recencyScore"], r["frequencyScore"],
                   r["monetaryScore"], r["segment"]) for name, r in rows.items()} == expected
    totals = {s["segment"]: (s["customers"], s["revenue"]["amount"]) for s in result.data["rfm"]["segments"]}
    assert totals["IMPORTANT_VALUE"] == (1, "3000.00") and totals["IMPORTANT_RETAIN"] == (1, "7000.00")
    assert totals["GENERAL_RECALL"] == (2, "500.00") and totals["GENERAL_DEVELOP"] == (1, "200.00")
    assert totals["GENERAL_VALUE"] == (0, "0.00") and len(totals) == 8
    recall = await post_graphql(query, {"s": "GENERAL_RECALL"})
    assert sorted(e["node"]["customer"]["name"] for e in recall.data["rfm"]["customers"]["edges"]) == ["B", "D"]
    assert recall.data["rfm"]["customers"]["totalCount"] == 2


async def test_deal_registration_and_channel_conflicts(post_graphql):
    """Partners P and Q, salesperson S. X: referred by P, and staff registered a deal of
    it for Q; Q registers X, then P's registration is refused (REGISTERED_BY_ANOTHER_PARTNER)
    -> conflict (two partners). Y: S owns an open deal, P referred Y; P's registration of
    Y is refused (OWNED_BY_DIRECT_SALES) -> conflict (partner + direct). Z: referred by
    P, only P registers it -> no conflict; Q cannot even find Z. Neither refusal says
    whose claim is in the way."""
    import base64

    from crm.auth import Principal, Role
    from tests.helpers import new_opportunity, new_user

    def principal(account):
        return Principal("p", Role.PARTNER, account_id=int(base64.b64decode(account).decode().split(":")[1]))

    p = await new_customer(post_graphql, "P", classification="PARTNER")
    q = await new_customer(post_graphql, "Q", classification="PARTNER")
    s = await new_user(post_graphql, "s@example.com")
    x = await new_customer(post_graphql, "X", referringPartnerId=p)
    y = await new_customer(post_graphql, "Y", referringPartnerId=p)
    z = await new_customer(post_graphql, "Z", referringPartnerId=p)
    await new_opportunity(post_graphql, x, registeringPartnerId=q)
    await new_opportunity(post_graphql, y, ownerId=s)
    register = "mutation($c: ID!, $o: ID) { dealRegister(customerId: $c, opportunityId: $o) { registration { expiresAt } errors { field code relatedId } } }"
    assert (await post_graphql(register, {"c": x}, as_=principal(q))).data["dealRegister"]["errors"] == []
    claimed = (await post_graphql(register, {"c": x}, as_=principal(p))).data["dealRegister"]
    assert claimed == {"registration": None, "errors": [{"field": "customerId", "code": "REGISTERED_BY_ANOTHER_PARTNER", "relatedId": None}]}
    refused = (await post_graphql(register, {"c": y}, as_=principal(p))).data["dealRegister"]
    assert refused == {"registration": None, "errors": [{"field": "customerId", "code": "OWNED_BY_DIRECT_SALES", "relatedId": None}]}
    assert (await post_graphql(register, {"c": z}, as_=principal(p))).data["dealRegister"]["errors"] == []
    # Z is not Q's to see: the same answer as for a customer that does not exist
    foreign = await post_graphql(register, {"c": z}, as_=principal(q))
    unknown = await post_graphql(register, {"c": gid("Customer", 999_999_999)}, as_=principal(q))
    assert foreign.data == unknown.data == {"dealRegister": {"registration": None, "errors": [
        {"field": "customerId", "code": "NOT_FOUND", "relatedId": None}]}}
    result = await post_graphql("""{ channelConflicts(first: 10) { totalCount edges { node {
        customer { name } claims { kind partner { name } user { email } } } } } }""")
    assert not result.errors, result.body
    assert result.data["channelConflicts"]["totalCount"] == 2
    conflicts = {e["node"]["customer"]["name"]: sorted((k["kind"], (k["partner"] or {}).get("name"), (k["user"] or {}).get("email"))
                                                       for k in e["node"]["claims"]) for e in result.data["channelConflicts"]["edges"]}
    assert conflicts == {
        "X": [("referral", "P", None), ("registered_deal", "Q", None), ("registration", "Q", None)],
        "Y": [("direct_deal", None, "s@example.com"), ("referral", "P", None)],
    }
    # staff cannot register for a partner; partners cannot read conflicts
    assert (await post_graphql(register, {"c": z})).error_codes == ["FORBIDDEN"]
    assert (await post_graphql("{ channelConflicts { totalCount } }", as_=principal(p))).error_codes == ["FORBIDDEN"]
    # one conflict per page: the pages walk both, by customer, each with its claims
    page = await post_graphql("{ channelConflicts(first: 1) { pageInfo { endCursor } edges { node { customer { name } } } } }")
    cursor = page.data["channelConflicts"]["pageInfo"]["endCursor"]
    following = await post_graphql("query($a: String) { channelConflicts(first: 1, after: $a) { pageInfo { hasNextPage } "
                                   "edges { node { customer { name } claims { kind } } } } }", {"a": cursor})
    names = [page.data["channelConflicts"]["edges"][0]["node"]["customer"]["name"],
             following.data["channelConflicts"]["edges"][0]["node"]["customer"]["name"]]
    assert sorted(names) == ["X", "Y"] and following.data["channelConflicts"]["pageInfo"]["hasNextPage"] is False


SPEND = """mutation($c: ID!, $s: Date!, $e: Date!, $a: Decimal!) { channelSpendRecord(input: {channelId: $c, periodStart: $s,
    periodEnd: $e, amount: {amount: $a, currency: "EUR"}}) { spend { id } errors { code } } }"""
SPENT = """query($from: DateTime!, $to: DateTime!, $tz: String!) { channelPerformance(from: $from, to: $to, currency: "EUR",
    timeZone: $tz) { channel { name } spend { amount } } }"""


async def _spend(post_graphql, start: str, end: str, time_zone: str) -> dict[str, str]:
    result = await post_graphql(SPENT, {"from": start, "to": end, "tz": time_zone})
    assert not result.errors, result.body
    return {row["channel"]["name"]: row["spend"]["amount"] for row in result.data["channelPerformance"]}


async def test_spend_is_prorated_by_the_exact_instants_of_the_bounds(post_graphql):
    """January's 3,100 in Shanghai over ten local days is 1,000.00 (the old proration took
    the bounds' UTC dates, 31 Dec to 10 Jan: 900.00). Berlin's March (743 hours: the
    clocks go forward on the 29th) spent 743.00; the 23-hour 29 March gets 23.00 (old:
    one of 31 UTC days, 23.97). Spend days in UTC (the default) against Shanghai's
    midnights: 232 of January's 744 hours, 966.67."""
    east, west = await new_channel(post_graphql, "East", "WEB"), await new_channel(post_graphql, "West", "EVENT")
    await ok(post_graphql, SPEND, {"c": east, "s": "2026-01-01", "e": "2026-02-01", "a": "3100"}, "channelSpendRecord")
    await ok(post_graphql, SPEND, {"c": west, "s": "2026-03-01", "e": "2026-04-01", "a": "743"}, "channelSpendRecord")
    shanghai = ("2026-01-01T00:00:00+08:00", "2026-01-11T00:00:00+08:00")
    assert (await _spend(post_graphql, *shanghai, "Asia/Shanghai"))["East"] == "1000.00"
    assert (await _spend(post_graphql, *shanghai, "UTC"))["East"] == "966.67"
    dst_day = await _spend(post_graphql, "2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00", "Europe/Berlin")
    assert dst_day == {"East": "0.00", "West": "23.00"}
    # Adjacent periods split a record without losing or doubling a cent's worth of time.
    halves = [await _spend(post_graphql, a, b, "Europe/Berlin") for a, b in (
        ("2026-03-01T00:00:00+01:00", "2026-03-29T03:00:00+02:00"), ("2026-03-29T03:00:00+02:00", "2026-04-01T00:00:00+02:00"))]
    assert [h["West"] for h in halves] == ["674.00", "69.00"]
    for zone in ("Mars/Olympus", "America", "", "localtime"):  # localtime: Python's, not PostgreSQL's
        bad = await post_graphql(SPENT, {"from": shanghai[0], "to": shanghai[1], "tz": zone})
        assert bad.error_codes == ["BAD_USER_INPUT"], zone
