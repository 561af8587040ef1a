"""Deals: creation, stage moves (the documented rules), history, pipeline board."""

from __future__ import annotations

import pytest

from crm.auth import Principal, Role
from tests.helpers import gid, new_customer, new_opportunity, new_user, ok, refused

MOVE = """mutation($id: ID!, $stage: OpportunityStage!, $reason: String, $p: Int) {
  opportunityMoveStage(id: $id, stage: $stage, lostReason: $reason, probability: $p) {
    opportunity { id stage probability lostReason weightedAmount { amount currency }
                  stageHistory { fromStage toStage probability changedBy { id } } }
    errors { field code message } } }"""
CREATE = """mutation($input: OpportunityCreateInput!) { opportunityCreate(input: $input) {
  opportunity { id name stage probability amount { amount currency } weightedAmount { amount currency } customer { id } }
  errors { field code } } }"""
UPDATE = """mutation($id: ID!, $input: OpportunityUpdateInput!) { opportunityUpdate(id: $id, input: $input) {
  opportunity { id name amount { amount currency } probability } errors { field code } } }"""


async def test_create_sets_default_probability_and_first_history_entry(post_graphql):
    customer = await new_customer(post_graphql)
    payload = await ok(post_graphql, CREATE, {"input": {
        "customerId": customer, "name": "Fleet renewal", "amount": {"amount": "12000.50", "currency": "eur"},
        "stage": "PROPOSAL"}}, "opportunityCreate")
    deal = payload["opportunity"]
    assert deal["stage"] == "PROPOSAL" and deal["probability"] == 50
    assert deal["amount"] == {"amount": "12000.50", "currency": "EUR"}
    assert deal["weightedAmount"] == {"amount": "6000.25", "currency": "EUR"}
    history = await post_graphql("query($id: ID!) { node(id: $id) { ... on Opportunity { stageHistory { fromStage toStage } } } }",
                                 {"id": deal["id"]})
    assert history.data["node"]["stageHistory"] == [{"fromStage": None, "toStage": "PROPOSAL"}]


@pytest.mark.parametrize(
    ("input", "field", "code"),
    [
        ({"amount": {"amount": "-1", "currency": "EUR"}}, "amount", "OUT_OF_RANGE"),
        ({"amount": {"amount": "10.001", "currency": "EUR"}}, "amount", "INVALID"),
        ({"amount": {"amount": "1000000000000", "currency": "EUR"}}, "amount", "OUT_OF_RANGE"),
        ({"amount": {"amount": "10", "currency": "XYZ"}}, "currency", "UNKNOWN_CURRENCY"),
        ({"amount": {"amount": "10", "currency": ""}}, "currency", "REQUIRED"),
        ({"probability": 101}, "probability", "OUT_OF_RANGE"),
        ({"stage": "WON"}, "stage", "INVALID_STAGE_MOVE"),
        ({"name": ""}, "name", "REQUIRED"),
        ({"customerId": "nope"}, "customerId", "INVALID"),
        ({"customerId": gid("Customer", 99999)}, "customerId", "NOT_FOUND"),
        ({"ownerId": gid("User", 99999)}, "ownerId", "NOT_FOUND"),
        ({"channelId": gid("Customer", 1)}, "channelId", "INVALID"),
    ],
)
async def test_create_refuses_bad_input(post_graphql, input, field, code):
    customer = await new_customer(post_graphql)
    base = {"customerId": customer, "name": "Deal", "amount": {"amount": "10", "currency": "EUR"}}
    assert await refused(post_graphql, CREATE, {"input": {**base, **input}}, "opportunityCreate") == [(field, code)]
    assert (await post_graphql("{ opportunities { totalCount } }")).data["opportunities"]["totalCount"] == 0


async def test_registering_partner_must_be_a_partner(post_graphql):
    customer = await new_customer(post_graphql)
    base = {"customerId": customer, "name": "Deal", "amount": {"amount": "10", "currency": "EUR"}}
    assert await refused(post_graphql, CREATE, {"input": {**base, "registeringPartnerId": customer}},
                         "opportunityCreate") == [("registeringPartnerId", "NOT_A_PARTNER")]


async def test_moves_record_history_with_actor_and_default_probabilities(post_graphql):
    user = await new_user(post_graphql, "mover@example.com")
    _, pk = __import__("base64").b64decode(user).decode().split(":")
    mover = Principal(subject="mover", role=Role.SALES, user_id=int(pk))
    deal = await new_opportunity(post_graphql, await new_customer(post_graphql), ownerId=user)
    await ok(post_graphql, MOVE, {"id": deal, "stage": "QUALIFIED"}, "opportunityMoveStage", as_=mover)
    await ok(post_graphql, MOVE, {"id": deal, "stage": "NEGOTIATION", "p": 60}, "opportunityMoveStage", as_=mover)
    payload = await ok(post_graphql, MOVE, {"id": deal, "stage": "LOST", "reason": "Budget cut"}, "opportunityMoveStage", as_=mover)
    o = payload["opportunity"]
    assert (o["stage"], o["probability"], o["lostReason"]) == ("LOST", 0, "Budget cut")
    assert o["weightedAmount"] == {"amount": "0.00", "currency": "EUR"}
    assert [(h["fromStage"], h["toStage"], h["probability"]) for h in o["stageHistory"]] == [
        (None, "LEAD", 10), ("LEAD", "QUALIFIED", 25), ("QUALIFIED", "NEGOTIATION", 60), ("NEGOTIATION", "LOST", 0),
    ]
    assert [h["changedBy"] for h in o["stageHistory"][1:]] == [{"id": user}] * 3
    # a lost deal can be reopened, and its reason goes
    reopened = (await ok(post_graphql, MOVE, {"id": deal, "stage": "QUALIFIED"}, "opportunityMoveStage"))["opportunity"]
    assert (reopened["stage"], reopened["lostReason"], reopened["probability"]) == ("QUALIFIED", None, 25)


@pytest.mark.parametrize(
    ("path", "to", "extra", "field", "code"),
    [
        (["WON"], "LEAD", {}, "stage", "INVALID_STAGE_MOVE"),  # WON is final
        (["WON"], "LOST", {"reason": "x"}, "stage", "INVALID_STAGE_MOVE"),
        (["LOST"], "WON", {}, "stage", "INVALID_STAGE_MOVE"),  # reopen first
        (["LOST"], "PROPOSAL", {}, "stage", "INVALID_STAGE_MOVE"),
        ([], "LEAD", {}, "stage", "NO_CHANGE"),
        ([], "LOST", {}, "lostReason", "LOST_REASON_REQUIRED"),
        ([], "LOST", {"reason": "   "}, "lostReason", "LOST_REASON_REQUIRED"),
        ([], "QUALIFIED", {"p": -5}, "probability", "OUT_OF_RANGE"),
    ],
)
async def test_forbidden_moves_change_nothing(post_graphql, path, to, extra, field, code):
    deal = await new_opportunity(post_graphql, await new_customer(post_graphql))
    for stage in path:
        await ok(post_graphql, MOVE, {"id": deal, "stage": stage, "reason": "r"}, "opportunityMoveStage")
    assert await refused(post_graphql, MOVE, {"id": deal, "stage": to, **extra}, "opportunityMoveStage") == [(field, code)]
    history = await post_graphql("query($id: ID!) { node(id: $id) { ... on Opportunity { stage stageHistory { toStage } } } }", {"id": deal})
    assert len(history.data["node"]["stageHistory"]) == 1 + len(path)


async def test_move_of_a_missing_deal(post_graphql):
    assert await refused(post_graphql, MOVE, {"id": gid("Opportunity", 5555), "stage": "WON"}, "opportunityMoveStage") == [("id", "NOT_FOUND")]
    assert await refused(post_graphql, MOVE, {"id": gid("Customer", 1), "stage": "WON"}, "opportunityMoveStage") == [("id", "INVALID")]


async def test_update_terms_and_closed_deals_keep_them(post_graphql):
    deal = await new_opportunity(post_graphql, await new_customer(post_graphql))
    payload = await ok(post_graphql, UPDATE, {"id": deal, "input": {"name": "Bigger", "amount": {"amount": "2000", "currency": "USD"}, "probability": 40}}, "opportunityUpdate")
    assert payload["opportunity"] == {"id": deal, "name": "Bigger", "amount": {"amount": "2000.00", "currency": "USD"}, "probability": 40}
    assert await refused(post_graphql, UPDATE, {"id": deal, "input": {"probability": None}}, "opportunityUpdate") == [("probability", "REQUIRED")]
    assert await refused(post_graphql, UPDATE, {"id": deal, "input": {"amount": None}}, "opportunityUpdate") == [("amount", "REQUIRED")]
    await ok(post_graphql, MOVE, {"id": deal, "stage": "WON"}, "opportunityMoveStage")
    assert await refused(post_graphql, UPDATE, {"id": deal, "input": {"name": "Changed"}}, "opportunityUpdate") == [(None, "INVALID_STAGE_MOVE")]


PIPELINE = """query($f: OpportunityFilter, $n: Int) { pipeline(filter: $f) {
  stage dealCount amounts { amount currency } weightedAmounts { amount currency }
  opportunities(first: $n) { totalCount edges { node { name customer { name } } } pageInfo { hasNextPage } } } }"""


async def test_pipeline_board(post_graphql):
    a = await new_customer(post_graphql, "A")
    b = await new_customer(post_graphql, "B")
    d1 = await new_opportunity(post_graphql, a, "A1", "100.00")
    await new_opportunity(post_graphql, a, "A2", "300.00")
    d3 = await new_opportunity(post_graphql, b, "B1", "50.00", currency="USD")
    await ok(post_graphql, MOVE, {"id": d1, "stage": "PROPOSAL"}, "opportunityMoveStage")
    await ok(post_graphql, MOVE, {"id": d3, "stage": "LOST", "reason": "price"}, "opportunityMoveStage")
    result = await post_graphql(PIPELINE, {"n": 1})
    assert not result.errors, result.body
    columns = {c["stage"]: c for c in result.data["pipeline"]}
    assert [c["stage"] for c in result.data["pipeline"]] == ["LEAD", "QUALIFIED", "PROPOSAL", "NEGOTIATION", "WON", "LOST"]
    assert columns["LEAD"]["dealCount"] == 1 and columns["LEAD"]["amounts"] == [{"amount": "300.00", "currency": "EUR"}]
    assert columns["LEAD"]["weightedAmounts"] == [{"amount": "30.00", "currency": "EUR"}]
    assert columns["PROPOSAL"]["opportunities"]["edges"] == [{"node": {"name": "A1", "customer": {"name": "A"}}}]
    assert columns["PROPOSAL"]["weightedAmounts"] == [{"amount": "50.00", "currency": "EUR"}]
    assert columns["LOST"]["amounts"] == [{"amount": "50.00", "currency": "USD"}]
    assert columns["WON"] == {"stage": "WON", "dealCount": 0, "amounts": [], "weightedAmounts": [],
                              "opportunities": {"totalCount": 0, "edges": [], "pageInfo": {"hasNextPage": False}}}
    # filtered board: only customer B
    only_b = await post_graphql(PIPELINE, {"n": 5, "f": {"customer": {"eq": b}}})
    assert sum(c["dealCount"] for c in only_b.data["pipeline"]) == 1


async def test_opportunity_filters_and_ordering(post_graphql):
    c = await new_customer(post_graphql)
    for name, amount in (("small", "10"), ("large", "5000"), ("medium", "700")):
        await new_opportunity(post_graphql, c, name, amount)
    query = """query($f: OpportunityFilter, $o: [OpportunityOrder!]) { opportunities(filter: $f, orderBy: $o) { edges { node { name } } } }"""
    result = await post_graphql(query, {"f": {"amount": {"gte": "100"}}, "o": [{"field": "AMOUNT", "direction": "DESC"}]})
    assert [e["node"]["name"] for e in result.data["opportunities"]["edges"]] == ["large", "medium"]
    result = await post_graphql(query, {"f": {"open": False}})
    assert result.data["opportunities"]["edges"] == []


@pytest.mark.parametrize("value", ["1e1000000000", "1e100000", "-1e-1000000000", "NaN", "Infinity", "-Infinity"])
async def test_unusable_numbers_in_filters_are_bad_input(post_graphql, value):
    result = await post_graphql("query($v: Decimal!) { opportunities(filter: {amount: {gte: $v}}) { totalCount } }", {"v": value})
    # The Decimal scalar refuses these before the filter sees them, naming the variable.
    assert result.error_codes == ["BAD_USER_INPUT"]
    assert result.errors[0]["extensions"]["variable"] == "v"
