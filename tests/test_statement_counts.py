"""The number of SQL statements of real screens does not grow with page size (and a
partner's tier screen stays at two).

Data is loaded with set-based SQL (it is the fixture, not the behaviour under test); the
screens are then read through GraphQL at page sizes 5 and 100 and every statement is
counted. Each expected count is the list of statements in the comment above it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from tests.helpers import gid

SEED = [
    "INSERT INTO app_user (email, name, role) SELECT 'u' || i || '@example.com', 'User ' || i, 'sales' FROM generate_series(1, 3) i",
    "INSERT INTO channel (name, kind) VALUES ('Web', 'web'), ('Events', 'event')",
    "INSERT INTO product (sku, name, list_price, currency) SELECT 'P' || i, 'Product ' || i, 10 * i, 'EUR' FROM generate_series(1, 5) i",
    # 150 customers, owned by the three users, from the two channels
    """INSERT INTO customer (name, kind, classification, owner_id, source_channel_id, tags)
       SELECT 'Customer ' || lpad(i::text, 3, '0'), 'organisation', 'customer',
              (SELECT min(id) FROM app_user) + i % 3, (SELECT min(id) FROM channel) + i % 2, ARRAY['t' || i % 4]
       FROM generate_series(1, 150) i""",
    # every customer: 2 contacts, 6 deals (one per stage), 3 activities, 2 orders; customer 1 gets 120 of each
    """INSERT INTO contact (customer_id, name) SELECT c.id, 'Contact ' || n FROM customer c,
       generate_series(1, CASE WHEN c.name = 'Customer 001' THEN 120 ELSE 2 END) n""",
    """INSERT INTO opportunity (customer_id, name, amount, currency, stage, probability, owner_id, lost_reason)
       SELECT c.id, 'Deal ' || n, 100 * n, 'EUR', (ARRAY['lead','qualified','proposal','negotiation','won','lost'])[1 + n % 6],
              10, c.owner_id, CASE WHEN n % 6 = 5 THEN 'price' END
       FROM customer c, generate_series(1, CASE WHEN c.name = 'Customer 001' THEN 120 ELSE 6 END) n""",
    # Times interleave activities, orders and stage changes, so any timeline page mixes them.
    """INSERT INTO opportunity_stage_change (opportunity_id, from_stage, to_stage, probability, changed_by_id, changed_at)
       SELECT o.id, NULL, 'lead', 10, o.owner_id, now() - (substr(o.name, 6)::int * 3 + 2) * interval '1 minute' FROM opportunity o
       UNION ALL SELECT o.id, 'lead', o.stage, o.probability, o.owner_id, now() - (substr(o.name, 6)::int * 3 + 2) * interval '1 minute' + interval '1 second'
       FROM opportunity o WHERE o.stage <> 'lead'""",
    """INSERT INTO activity (customer_id, kind, subject, user_id, due_at, occurred_at)
       SELECT c.id, 'call', 'Call ' || n, c.owner_id, CASE WHEN n % 2 = 0 THEN now() + n * interval '1 day' END,
              now() - (n * 3) * interval '1 minute'
       FROM customer c, generate_series(1, CASE WHEN c.name = 'Customer 001' THEN 120 ELSE 3 END) n""",
    """INSERT INTO sales_order (customer_id, currency, total, placed_at)
       SELECT c.id, 'EUR', 30, now() - (n * 3 + 1) * interval '1 minute'
       FROM customer c, generate_series(1, CASE WHEN c.name = 'Customer 001' THEN 120 ELSE 2 END) n""",
    """INSERT INTO order_line (order_id, product_id, quantity, currency, list_unit_price, discount_rate, net_unit_price, line_total)
       SELECT o.id, (SELECT min(id) FROM product) + k, 1, 'EUR', 10, 0, 10, 10 FROM sales_order o, generate_series(0, 2) k""",
]


@pytest.fixture
async def crm_data(database):
    async with database.session() as session, session.begin():
        for statement in SEED:
            await session.execute(text(statement))
        first = (await session.execute(text("SELECT id FROM customer WHERE name = 'Customer 001'"))).scalar_one()
    return {"customer": gid("Customer", first)}


CUSTOMER_LIST = """query($n: Int!) {
  customers(first: $n, filter: {classification: {eq: CUSTOMER}}, orderBy: [{field: NAME}]) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      id name classification lifecycleStage tags email
      owner { id name }
      sourceChannel { name }
      openDeals: opportunities(first: 3, filter: {open: true}) { totalCount edges { node { name stage amount { amount currency } } } }
    } }
  }
}"""


@pytest.mark.parametrize("size", [5, 100])
async def test_customer_list_page(post_graphql, count_statements, crm_data, size):
    async with count_statements() as log:
        result = await post_graphql(CUSTOMER_LIST, {"n": size})
    assert not result.errors, result.body
    edges = result.data["customers"]["edges"]
    assert len(edges) == size and result.data["customers"]["totalCount"] == 150
    assert all(e["node"]["owner"] and e["node"]["sourceChannel"] for e in edges)
    assert edges[1]["node"]["openDeals"]["totalCount"] == 4  # one deal per stage, four stages open
    # customers page, COUNT(customers), owners, channels, deal pages (LATERAL), deal counts
    assert len(log) == 6, log.statements
    # Asked again, the screen is answered by one statement (engine/sql/), alike.
    async with count_statements() as log:
        again = await post_graphql(CUSTOMER_LIST, {"n": size})
    assert json.dumps(again.body) == json.dumps(result.body)  # key order too
    assert len(log) == 1, log.statements


CUSTOMER_DETAIL = """query($id: ID!, $n: Int!) {
  customer(id: $id) {
    id name email phone tags attributes consent { doNotContact } contactable
    owner { name email } sourceChannel { name kind } referringPartner { name }
    contacts(first: $n) { totalCount edges { node { name email title contactable } } }
    opportunities(first: $n) { totalCount edges { node {
      name stage probability amount { amount currency } weightedAmount { amount } owner { name }
      stageHistory { fromStage toStage changedAt changedBy { name } }
    } } }
    activities(first: $n) { totalCount edges { node { kind subject occurredAt dueAt open overdue user { name } } } }
    commitments: activities(first: $n, filter: {kind: {eq: COMMITMENT}, open: true}) { totalCount }
    orders(first: $n) { totalCount edges { node { status total { amount currency } placedAt lines { quantity product { sku } lineTotal { amount } } } } }
    timeline(first: $n) { edges { node { at item { __typename ... on Activity { subject } ... on Order { total { amount } } ... on OpportunityStageChange { toStage } } } } }
  }
}"""


@pytest.mark.parametrize("size", [5, 100])
async def test_customer_detail_page(post_graphql, count_statements, crm_data, size):
    async with count_statements() as log:
        result = await post_graphql(CUSTOMER_DETAIL, {"id": crm_data["customer"], "n": size})
    assert not result.errors, result.body
    customer = result.data["customer"]
    for relation in ("contacts", "opportunities", "activities", "orders"):
        assert len(customer[relation]["edges"]) == size and customer[relation]["totalCount"] == 120
    assert len(customer["timeline"]["edges"]) == size
    kinds = {e["node"]["item"]["__typename"] for e in customer["timeline"]["edges"]}
    assert kinds == {"Activity", "Order", "OpportunityStageChange"}
    assert all(e["node"]["lines"] for e in customer["orders"]["edges"])
    # 1 customer by id, 2 users (owner, deal owners, stage-change users, activity users:
    # one loader, one batch), 3 channel, 4-5 contacts page + count, 6-7 deals page + count,
    # 8 stage histories, 9-10 activities page + count, 11 commitments count (no page: only
    # totalCount is asked), 12-13 orders page + count, 14 order lines, 15 products,
    # 16 timeline page, 17-19 timeline items, one loader per kind (activities, orders,
    # stage changes).
    assert len(log) == 19, "\n".join(s.splitlines()[0] for s in log.statements)


PIPELINE = """query($n: Int!) {
  pipeline {
    stage dealCount amounts { amount currency } weightedAmounts { amount currency }
    opportunities(first: $n) { totalCount pageInfo { hasNextPage } edges { node {
      name amount { amount currency } probability expectedClose customer { name } owner { name }
    } } }
  }
}"""


@pytest.mark.parametrize("size", [5, 100])
async def test_pipeline_board(post_graphql, count_statements, crm_data, size):
    async with count_statements() as log:
        result = await post_graphql(PIPELINE, {"n": size})
    assert not result.errors, result.body
    columns = result.data["pipeline"]
    assert [len(c["opportunities"]["edges"]) for c in columns] == [size] * 6
    assert sum(c["dealCount"] for c in columns) == 149 * 6 + 120
    # totals by stage and currency; deal pages of all six columns (LATERAL); deal counts;
    # customers; owners
    assert len(log) == 5, log.statements


MY_MEMBERSHIP = """{ myMembership {
  tier { code discountRate trainingQuota } validUntil earnedRank qualifyingVolume { amount } windowStart windowEnd
  nextTier { tier { code } amountToGo { amount } } amountToKeep { amount } training { granted used remaining } } }"""
WITH_LISTS = """{ myMembership { tier { code } upcomingBookings { title } history { toRank } feePayments { tierRank }
  overrides { kind } } }"""


async def test_my_membership(client, database, count_statements):
    """A partner's tier screen: the membership with its programme, then one statement of
    figures (tiers/view.py); the rule version's tiers once per process. The lists only
    when asked for, one statement each."""
    from core.demo import demo_partner, seed_demo_data
    from crm.auth import Principal, Role
    from tests.conftest import token_for

    await seed_demo_data(database)
    user_id, account_id = await demo_partner(database)
    partner = Principal(subject="nora@northwind.example", role=Role.PARTNER, account_id=account_id, user_id=user_id)
    headers = {"Authorization": f"Bearer {token_for(partner)}"}
    await client.post("/graphql", json={"query": MY_MEMBERSHIP}, headers=headers)  # meets the rule version
    async with count_statements() as log:
        body = (await client.post("/graphql", json={"query": MY_MEMBERSHIP}, headers=headers)).json()
    assert "errors" not in body and body["data"]["myMembership"]["tier"]["code"] == "B"
    assert len(log) == 2, log.statements
    async with count_statements() as log:
        body = (await client.post("/graphql", json={"query": WITH_LISTS}, headers=headers)).json()
    assert "errors" not in body and body["data"]["myMembership"]["history"]
    assert len(log) == 6, log.statements
