"""The benchmark's requests: the same screen asked of our API, of PostGraphile 4 and of
PostGraphile 5.

All sides select the same columns in the same order (the customer's name order with
the id as tie-break, orders newest first) so that each does the same database work;
the shapes of the answers differ only as the schemas do (our `Money` object is
PostGraphile's `total` + `currency`; the primary key is `id` in PostGraphile 4 and
`rowId` in PostGraphile 5, whose `id` is the Node ID).

Each of our screens (a) and (b) is also asked in its fragment form (a') and (b'): the
same selection as relay-compiler or Apollo Client emit it, a named fragment per object
type, `__typename` on every object (connections, edges, pageInfo and Money too) and the
operation spreading the fragments. Its answer is the plain form's plus the `__typename`
keys; the harness checks that before it drives. (a+) is (a) with each customer's
`consent { emailOptOut }`, a field our server resolves in Python.
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

CUSTOMER_LIST_CONSENT = """query CustomerListConsent {
  customers(first: 50, orderBy: [{field: NAME}]) {
    pageInfo { hasNextPage endCursor }
    edges { node {
      id name email classification createdAt consent { emailOptOut }
      orders(first: 5) { edges { node { id status placedAt total { amount currency } } } }
    } }
  }
}"""

ORDER_SUMMARY = """fragment OrderSummary on Order {
  __typename id status placedAt total { __typename amount currency }
}"""

CUSTOMER_LIST_FRAGMENTS = """query CustomerListFragments {
  customers(first: 50, orderBy: [{field: NAME}]) {
    __typename
    pageInfo { __typename hasNextPage endCursor }
    edges { __typename node { __typename id ...CustomerListItem } }
  }
}

fragment CustomerListItem on Customer {
  __typename id name email classification createdAt
  orders(first: 5) { __typename edges { __typename node { __typename id ...OrderSummary } } }
}

""" + ORDER_SUMMARY

# The peers' forms are templates: %ID% is the primary key's field (`id` in PostGraphile 4,
# `rowId` in 5), %ID_ASC%/%ID_DESC% its orderBy values, %BY_ID% the lookup by primary key.
PEER_CUSTOMER_LIST = """query CustomerList {
  allCustomers(first: 50, orderBy: [NAME_ASC, %ID_ASC%]) {
    pageInfo { hasNextPage endCursor }
    edges { node {
      %ID% name email classification createdAt
      salesOrdersByCustomerId(first: 5, orderBy: [PLACED_AT_DESC, %ID_DESC%]) { edges { node { %ID% status placedAt total currency } } }
    } }
  }
}"""

PEER_CUSTOMER_LIST_CONSENT = """query CustomerListConsent {
  allCustomers(first: 50, orderBy: [NAME_ASC, %ID_ASC%]) {
    pageInfo { hasNextPage endCursor }
    edges { node {
      %ID% name email classification createdAt emailOptOut
      salesOrdersByCustomerId(first: 5, orderBy: [PLACED_AT_DESC, %ID_DESC%]) { edges { node { %ID% status placedAt total currency } } }
    } }
  }
}"""

PEER_ORDER_SUMMARY = """fragment OrderSummary on SalesOrder {
  __typename %ID% status placedAt total currency
}"""

PEER_CUSTOMER_LIST_FRAGMENTS = """query CustomerListFragments {
  allCustomers(first: 50, orderBy: [NAME_ASC, %ID_ASC%]) {
    __typename
    pageInfo { __typename hasNextPage endCursor }
    edges { __typename node { __typename %ID% ...CustomerListItem } }
  }
}

fragment CustomerListItem on Customer {
  __typename %ID% name email classification createdAt
  salesOrdersByCustomerId(first: 5, orderBy: [PLACED_AT_DESC, %ID_DESC%]) {
    __typename edges { __typename node { __typename %ID% ...OrderSummary } } }
}

""" + PEER_ORDER_SUMMARY

CUSTOMER_DETAIL = """query CustomerDetail($id: ID!) {
  customer(id: $id) {
    id name email phone classification lifecycleStage tags createdAt
    contacts(first: 20) { edges { node { id name title email } } }
    opportunities(first: 20, filter: {open: true}) { edges { node { id name stage amount { amount currency } expectedClose } } }
    activities(first: 20) { edges { node { id kind subject occurredAt dueAt doneAt } } }
    orders(first: 20) { edges { node { id status placedAt total { amount currency } } } }
  }
}"""

CUSTOMER_DETAIL_FRAGMENTS = """query CustomerDetailFragments($id: ID!) {
  customer(id: $id) { __typename id ...CustomerDetail }
}

fragment CustomerDetail on Customer {
  __typename id name email phone classification lifecycleStage tags createdAt
  contacts(first: 20) { __typename edges { __typename node { __typename id ...ContactItem } } }
  opportunities(first: 20, filter: {open: true}) { __typename edges { __typename node { __typename id ...OpportunityItem } } }
  activities(first: 20) { __typename edges { __typename node { __typename id ...ActivityItem } } }
  orders(first: 20) { __typename edges { __typename node { __typename id ...OrderSummary } } }
}

fragment ContactItem on Contact { __typename id name title email }

fragment OpportunityItem on Opportunity {
  __typename id name stage amount { __typename amount currency } expectedClose
}

fragment ActivityItem on Activity { __typename id kind subject occurredAt dueAt doneAt }

""" + ORDER_SUMMARY

PEER_CUSTOMER_DETAIL = """query CustomerDetail($id: BigInt!) {
  %BY_ID% {
    %ID% name email phone classification lifecycleStage tags createdAt
    contactsByCustomerId(first: 20, orderBy: [NAME_ASC, %ID_ASC%]) { edges { node { %ID% name title email } } }
    opportunitiesByCustomerId(first: 20, orderBy: [CREATED_AT_DESC, %ID_DESC%], filter: {stage: {notIn: ["won", "lost"]}}) {
      edges { node { %ID% name stage amount currency expectedClose } } }
    activitiesByCustomerId(first: 20, orderBy: [OCCURRED_AT_DESC, %ID_DESC%]) { edges { node { %ID% kind subject occurredAt dueAt doneAt } } }
    salesOrdersByCustomerId(first: 20, orderBy: [PLACED_AT_DESC, %ID_DESC%]) { edges { node { %ID% status placedAt total currency } } }
  }
}"""

PEER_CUSTOMER_DETAIL_FRAGMENTS = """query CustomerDetailFragments($id: BigInt!) {
  %BY_ID% { __typename %ID% ...CustomerDetail }
}

fragment CustomerDetail on Customer {
  __typename %ID% name email phone classification lifecycleStage tags createdAt
  contactsByCustomerId(first: 20, orderBy: [NAME_ASC, %ID_ASC%]) {
    __typename edges { __typename node { __typename %ID% ...ContactItem } } }
  opportunitiesByCustomerId(first: 20, orderBy: [CREATED_AT_DESC, %ID_DESC%], filter: {stage: {notIn: ["won", "lost"]}}) {
    __typename edges { __typename node { __typename %ID% ...OpportunityItem } } }
  activitiesByCustomerId(first: 20, orderBy: [OCCURRED_AT_DESC, %ID_DESC%]) {
    __typename edges { __typename node { __typename %ID% ...ActivityItem } } }
  salesOrdersByCustomerId(first: 20, orderBy: [PLACED_AT_DESC, %ID_DESC%]) {
    __typename edges { __typename node { __typename %ID% ...OrderSummary } } }
}

fragment ContactItem on Contact { __typename %ID% name title email }

fragment OpportunityItem on Opportunity { __typename %ID% name stage amount currency expectedClose }

fragment ActivityItem on Activity { __typename %ID% kind subject occurredAt dueAt doneAt }

""" + PEER_ORDER_SUMMARY

# What differs between the two PostGraphiles' generated schemas for these screens.
PEER_NAMING = {
    "v4": {"%ID%": "id", "%ID_ASC%": "ID_ASC", "%ID_DESC%": "ID_DESC", "%BY_ID%": "customerById(id: $id)"},
    "v5": {"%ID%": "rowId", "%ID_ASC%": "ROW_ID_ASC", "%ID_DESC%": "ROW_ID_DESC", "%BY_ID%": "customerByRowId(rowId: $id)"},
}
PEERS = tuple(PEER_NAMING)


def peer_query(template: str, peer: str) -> str:
    """The template in `peer`'s naming ("v4" or "v5")."""
    for token, value in PEER_NAMING[peer].items():
        template = template.replace(token, value)
    assert "%" not in template, template
    return template


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
    from resolvers.ids import to_global_id

    return to_global_id(type_name, pk)


@dataclass
class Scenario:
    """One screen: the requests for our API and, where it can do the same, for each peer."""

    key: str
    title: str
    ours: list[dict] = field(default_factory=list)
    # By peer ("v4", "v5"): its requests for the same screen; absent where it cannot.
    peers: dict[str, list[dict]] = field(default_factory=dict)
    # Who asks: "admin" or "partner" (the harness adds the Authorization header).
    caller: str = "admin"
    # Whether the SQL floor applies (reads only).
    floor: bool = True
    # For a fragment form: the plain form, whose answer this one must equal once the
    # `__typename` keys are taken out (checked by the harness before it drives).
    plain: "Scenario | None" = None

    @property
    def family(self) -> str:
        """The letter that selects it on the command line: (a'), (a+) go with (a)."""
        return self.key[0]


def _body(query: str, variables: dict | None = None) -> str:
    return json.dumps({"query": query, "variables": variables or {}})


def _peers(template: str, variables: list[dict] | None = None) -> dict[str, list[dict]]:
    return {peer: [{"body": _body(peer_query(template, peer), v)} for v in (variables or [None])] for peer in PEERS}


def customer_list() -> Scenario:
    return Scenario("a", "Customer list: 50 customers, each with its 5 latest orders",
                    ours=[{"body": _body(CUSTOMER_LIST)}], peers=_peers(PEER_CUSTOMER_LIST))


def customer_list_fragments() -> Scenario:
    return Scenario("a'", "Customer list, fragments: (a) as relay-compiler or Apollo emit it",
                    ours=[{"body": _body(CUSTOMER_LIST_FRAGMENTS)}], peers=_peers(PEER_CUSTOMER_LIST_FRAGMENTS),
                    plain=customer_list())


def customer_list_consent() -> Scenario:
    return Scenario("a+", "Customer list + consent: (a) with each customer's consent { emailOptOut }",
                    ours=[{"body": _body(CUSTOMER_LIST_CONSENT)}], peers=_peers(PEER_CUSTOMER_LIST_CONSENT))


def _detail_ids(shape: Shape, count: int) -> list[int]:
    rng = random.Random(f"{shape.seed}:detail")
    return [rng.randrange(1, shape.customers + 1) for _ in range(count)]


def customer_detail(shape: Shape, count: int = 200) -> Scenario:
    ids = _detail_ids(shape, count)
    return Scenario("b", "Customer detail: contacts, open opportunities, last 20 activities, last 20 orders",
                    ours=[{"body": _body(CUSTOMER_DETAIL, {"id": global_id("Customer", i)})} for i in ids],
                    peers=_peers(PEER_CUSTOMER_DETAIL, [{"id": str(i)} for i in ids]))


def customer_detail_fragments(shape: Shape, count: int = 200) -> Scenario:
    ids = _detail_ids(shape, count)
    return Scenario("b'", "Customer detail, fragments: (b) as relay-compiler or Apollo emit it",
                    ours=[{"body": _body(CUSTOMER_DETAIL_FRAGMENTS, {"id": global_id("Customer", i)})} for i in ids],
                    peers=_peers(PEER_CUSTOMER_DETAIL_FRAGMENTS, [{"id": str(i)} for i in ids]),
                    plain=customer_detail(shape, count))


def my_membership(shape: Shape) -> Scenario:
    """Each request from another partner; `partner` bodies carry the account id the
    harness turns into that partner's token."""
    accounts = range(1, shape.partner_users + 1)
    return Scenario("c", "A partner's myMembership (tier, volume, next tier, training)",
                    ours=[{"body": _body(MY_MEMBERSHIP), "account": a} for a in accounts], caller="partner")


def reads(shape: Shape) -> list[Scenario]:
    """Every read scenario, in the order the harness runs and reports them."""
    return [customer_list(), customer_list_fragments(), customer_list_consent(), customer_detail(shape),
            customer_detail_fragments(shape), my_membership(shape)]


def strip_typename(value):
    """The answer without its `__typename` keys (a fragment form's answer, made
    comparable with the plain form's)."""
    if isinstance(value, dict):
        return {k: strip_typename(v) for k, v in value.items() if k != "__typename"}
    if isinstance(value, list):
        return [strip_typename(v) for v in value]
    return value


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
