"""The benchmark's requests: the same screen asked of our API and of PostGraphile 4.

Both sides select the same columns in the same order (the customer's name order with
the id as tie-break, orders newest first) so that each does the same database work;
the shapes of the answers differ only as the two schemas do (our `Money` object is
PostGraphile's `total` + `currency`).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

from bench.generate import PRODUCTS, Shape

CUSTOMER_LIST = """query CustomerList {
  customers(first: 50, orderBy: [{field: NAME}]) {
    pageInfo { hasNextPage endCursor }
    edges { node {
      id name email classification createdAt
      orders(first: 5) { edges { node { id status placedAt total { amount currency } } } }
    } }
  }
}"""

PEER_CUSTOMER_LIST = """query CustomerList {
  allCustomers(first: 50, orderBy: [NAME_ASC, ID_ASC]) {
    pageInfo { hasNextPage endCursor }
    edges { node {
      id name email classification createdAt
      salesOrdersByCustomerId(first: 5, orderBy: [PLACED_AT_DESC, ID_DESC]) { edges { node { id status placedAt total currency } } }
    } }
  }
}"""

CUSTOMER_DETAIL = """query CustomerDetail($id: ID!) {
  customer(id: $id) {
    id name email phone classification lifecycleStage tags createdAt
    contacts(first: 20) { edges { node { id name title email } } }
    opportunities(first: 20, filter: {open: true}) { edges { node { id name stage amount { amount currency } expectedClose } } }
    activities(first: 20) { edges { node { id kind subject occurredAt dueAt doneAt } } }
    orders(first: 20) { edges { node { id status placedAt total { amount currency } } } }
  }
}"""

PEER_CUSTOMER_DETAIL = """query CustomerDetail($id: BigInt!) {
  customerById(id: $id) {
    id name email phone classification lifecycleStage tags createdAt
    contactsByCustomerId(first: 20, orderBy: [NAME_ASC, ID_ASC]) { edges { node { id name title email } } }
    opportunitiesByCustomerId(first: 20, orderBy: [CREATED_AT_DESC, ID_DESC], filter: {stage: {notIn: ["won", "lost"]}}) {
      edges { node { id name stage amount currency expectedClose } } }
    activitiesByCustomerId(first: 20, orderBy: [OCCURRED_AT_DESC, ID_DESC]) { edges { node { id kind subject occurredAt dueAt doneAt } } }
    salesOrdersByCustomerId(first: 20, orderBy: [PLACED_AT_DESC, ID_DESC]) { edges { node { id status placedAt total currency } } }
  }
}"""

MY_MEMBERSHIP = """query MyMembership {
  myMembership {
    tier { code name discountRate trainingQuota } validUntil earnedRank
    qualifyingVolume { amount currency } windowStart windowEnd
    nextTier { tier { code } amountToGo { amount currency } } amountToKeep { amount }
    training { granted used remaining }
  }
}"""

ORDER_PLACE = """mutation OrderPlace($input: OrderPlaceInput!) {
  orderPlace(input: $input) {
    order { id status total { amount currency } lines { quantity netUnitPrice { amount } tierCode } }
    errors { field message code }
  }
}"""


def global_id(type_name: str, pk: int) -> str:
    from resolvers.node import to_global_id

    return to_global_id(type_name, pk)


@dataclass
class Scenario:
    """One screen: the requests for our API and, where it can do the same, for the peer."""

    key: str
    title: str
    ours: list[dict] = field(default_factory=list)
    peer: list[dict] = field(default_factory=list)
    # Who asks: "admin" or "partner" (the harness adds the Authorization header).
    caller: str = "admin"
    # Whether the SQL floor applies (reads only).
    floor: bool = True


def _body(query: str, variables: dict | None = None) -> str:
    return json.dumps({"query": query, "variables": variables or {}})


def customer_list() -> Scenario:
    return Scenario("a", "Customer list: 50 customers, each with its 5 latest orders",
                    ours=[{"body": _body(CUSTOMER_LIST)}], peer=[{"body": _body(PEER_CUSTOMER_LIST)}])


def customer_detail(shape: Shape, count: int = 200) -> Scenario:
    rng = random.Random(f"{shape.seed}:detail")
    ids = [rng.randrange(1, shape.customers + 1) for _ in range(count)]
    return Scenario("b", "Customer detail: contacts, open opportunities, last 20 activities, last 20 orders",
                    ours=[{"body": _body(CUSTOMER_DETAIL, {"id": global_id("Customer", i)})} for i in ids],
                    peer=[{"body": _body(PEER_CUSTOMER_DETAIL, {"id": str(i)})} for i in ids])


def my_membership(shape: Shape) -> Scenario:
    """Each request from another partner; `partner` bodies carry the account id the
    harness turns into that partner's token."""
    accounts = range(1, shape.partner_users + 1)
    return Scenario("c", "A partner's myMembership (tier, volume, next tier, training)",
                    ours=[{"body": _body(MY_MEMBERSHIP), "account": a} for a in accounts], caller="partner")


def order_place(shape: Shape, run_id: str, count: int = 40_000) -> Scenario:
    """Distinct orders (fresh external references, so none is a replay), half of them
    by programme members, whose orders also go to the qualifying ledger."""
    rng = random.Random(f"{shape.seed}:orders:{run_id}")
    bodies = []
    for i in range(count):
        customer = rng.randrange(1, shape.members + 1) if i % 2 and shape.members else rng.randrange(1, shape.customers + 1)
        lines = [{"productId": global_id("Product", rng.randrange(1, PRODUCTS + 1)), "quantity": rng.randrange(1, 5)}
                 for _ in range(2)]
        variables = {"input": {"customerId": global_id("Customer", customer), "lines": lines, "paid": True,
                               "source": "bench", "externalReference": f"{run_id}-{i}"}}
        bodies.append({"body": _body(ORDER_PLACE, variables)})
    return Scenario("d", "orderPlace: 2 lines, paid, priced by tier, ledger for members", ours=bodies, floor=False)


# Issue [5/6]'s analytics, over the data set's last year (orders run to 2026-07-01).
PERIOD = {"from": "2025-07-01T00:00:00Z", "to": "2026-07-01T00:00:00Z"}
SEGMENT_CREATE = """mutation { segmentCreate(input: {name: "Bench wholesale", priority: 1,
  filter: {tags: {containsAny: ["wholesale"]}}}) { segment { id } errors { code } } }"""
ANALYTICS = {
    "rfm": ("""query($asOf: DateTime!) { rfm(currency: "EUR", asOf: $asOf, windowMonths: 12, first: 20) {
        segments { segment customers revenue { amount } }
        customers { edges { node { customer { name } recencyDays frequency monetary { amount }
                                   recencyScore frequencyScore monetaryScore segment } } } } }""",
            {"asOf": PERIOD["to"]}),
    "rfm (one segment)": ("""query($asOf: DateTime!) { rfm(currency: "EUR", asOf: $asOf, segment: IMPORTANT_VALUE, first: 20) {
        customers { edges { node { customer { name } monetary { amount } segment } } } } }""", {"asOf": PERIOD["to"]}),
    "revenueConcentration": ("""query($from: DateTime!, $to: DateTime!) {
        revenueConcentration(from: $from, to: $to, currency: "EUR", top: 20) {
          totalRevenue { amount currency } top20Count top20Share customersFor80Percent
          customers { rank customer { name } revenue { amount } share cumulativeShare abcClass } } }""", PERIOD),
    "funnel": ("""query($from: DateTime!, $to: DateTime!) { funnel(from: $from, to: $to) {
        steps { stage entered advanced conversionRate medianDaysInStage } won lost
        weightedPipeline { month weightedAmount { amount currency } deals } } }""", PERIOD),
    "channelPerformance": ("""query($from: DateTime!, $to: DateTime!) { channelPerformance(from: $from, to: $to, currency: "EUR") {
        channel { name } spend { amount } customersAcquired orders revenue { amount }
        revenuePerCustomer { amount } roi costPerCustomer { amount } note } }""", PERIOD),
    "channelConflicts": ("""{ channelConflicts(first: 50) { totalCount edges { node {
        customer { name } claims { kind since partner { name } user { name } } } } } }""", {}),
    "segments (counts)": ("""{ segments { name memberCount primaryCount } }""", {}),
    "segmentMembers": ("""query($segment: ID!) { segmentMembers(segmentId: $segment, first: 50) {
        edges { node { name primarySegment { name } } } } }""", {"segment": None}),
    "tierDistribution": ("""query($programme: ID!, $from: DateTime!) { tierDistribution(programmeId: $programme, from: $from) {
        membersPerTier { rank members } promotions demotions
        nearNextTier { account { name } rank nextRank qualifyingVolume { amount } amountToGo { amount } } } }""",
                         {"programme": None, "from": PERIOD["from"]}),
}


def analytics(segment_id: str, programme_id: str) -> dict[str, str]:
    """Each analytics query's request body, by name."""
    bodies = {}
    for name, (query, variables) in ANALYTICS.items():
        filled = dict(variables)
        if "segment" in filled:
            filled["segment"] = segment_id
        if "programme" in filled:
            filled["programme"] = programme_id
        bodies[name] = _body(query, filled)
    return bodies
