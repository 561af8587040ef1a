"""The compiled read path answers exactly as the normal path does.

Two apps on the same data: one with the compiled path off (Strawberry and graphql-core
only), one with it on. Every query is sent to the plain app once and to the compiled
app twice (the first answer teaches the compiler the document, the second is answered
by the plan), and the three answers must be equal, byte for byte after JSON decoding.
The queries are the benchmark's screens, every query example of the README, and
queries chosen for the corners: aliases, __typename, variables, nested objects and
lists, cursors, counts, enum and list arguments, and callers the plan must hand back to
the normal path (an error, a forbidden field, bad variables).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import httpx
import pytest

from bench import scenarios
from core.demo import demo_partner, seed_demo_data
from crm.auth import Principal, Role
from server import create_app
from tests.conftest import ADMIN, token_for

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
README_QUERIES = [q for q in re.findall(r"```graphql\n(.*?)```", README, re.S) if not q.lstrip().startswith("mutation")]

CORNERS = [
    "{ __typename customers(first: 3) { __typename totalCount edges { cursor node { __typename id } } } }",
    """{ a: customers(first: 2, orderBy: [{field: NAME, direction: DESC}]) { edges { node { name } } }
         b: customers(last: 2) { pageInfo { hasPreviousPage hasNextPage startCursor endCursor } } }""",
    """query($first: Int, $tags: [String!]) { customers(first: $first, filter: {tags: {containsAny: $tags}}) {
         edges { node { name tags attributes consent { emailOptOut } owner { name email } sourceChannel { name kind }
                        contacts(first: 2) { totalCount edges { node { name email } } } } } } }""",
    """{ opportunities(first: 10) { edges { node { name stage probability amount { amount currency } expectedClose
         weightedAmount { amount } customer { name } owner { name } stageHistory { fromStage toStage probability } } } }
       pipeline { stage dealCount } }""",
    """{ orders(first: 5) { edges { node { status total { amount currency } netTotal { amount } placedAt paidAt
         lines { quantity listUnitPrice { amount } discountRate lineTotal { amount } product { sku name } } } } } }""",
    "{ products(first: 5) { edges { node { sku name listPrice { amount currency } active } } } channels(first: 5) { totalCount } }",
    "{ followUps { edges { node { subject dueAt overdue customer { name } } } } }",
    "{ customers(first: 101) { totalCount } }",  # an error: page too large
    "{ users(first: 5) { edges { node { email role } } } }",
]


@pytest.fixture
async def plain_client(settings, database):
    app = create_app(dataclasses.replace(settings, compiled_queries=False), database=database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def _compiler(app):
    """The compiler of the app's GraphQL view."""
    for route in app.routes:
        endpoint = getattr(route, "app", None) or getattr(route, "endpoint", None)
        if getattr(endpoint, "compiler", None) is not None:
            return endpoint.compiler
    raise AssertionError("no compiled view in the app")


async def _post(client, query, variables, principal):
    headers = {"Authorization": f"Bearer {token_for(principal)}"} if principal else {}
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    body = response.json()
    for error in body.get("errors") or []:
        error.get("extensions", {}).pop("requestId", None)  # differs per request by design
    return response.status_code, body


async def _compare(plain_client, client, compiler, query, variables=None, principal=ADMIN, *, compiled=True):
    expected = await _post(plain_client, query, variables, principal)
    first = await _post(client, query, variables, principal)
    answered = compiler.answered
    second = await _post(client, query, variables, principal)
    assert first == expected, query
    assert second == expected, query
    assert (compiler.answered == answered + 1) is compiled, (query, compiler.gave_up)
    return second


@pytest.fixture
async def demo(database, post_graphql):
    await seed_demo_data(database)
    user_id, account_id = await demo_partner(database)
    return {
        "nora": Principal(subject="nora@northwind.example", role=Role.PARTNER, account_id=account_id, user_id=user_id),
        "customers": [e["node"]["id"] for e in (await post_graphql("{ customers(first: 20) { edges { node { id } } } }"))
                      .data["customers"]["edges"]],
        "programme": (await post_graphql("{ programmes { id } }")).data["programmes"][0]["id"],
    }


async def test_the_benchmark_screens(app, client, plain_client, demo):
    compiler = _compiler(app)
    await _compare(plain_client, client, compiler, scenarios.CUSTOMER_LIST)
    for customer in demo["customers"]:
        status, body = await _compare(plain_client, client, compiler, scenarios.CUSTOMER_DETAIL, {"id": customer})
        assert status == 200 and body["data"]["customer"]["id"] == customer
    status, body = await _compare(plain_client, client, compiler, scenarios.MY_MEMBERSHIP, principal=demo["nora"])
    assert body["data"]["myMembership"]["tier"]["code"] == "B"


async def test_every_readme_query(app, client, plain_client, demo):
    compiler = _compiler(app)
    values = {"id": demo["customers"][0], "programmeId": demo["programme"]}
    for query in README_QUERIES:
        variables = {name: value for name, value in values.items() if f"${name}" in query}
        principal = demo["nora"] if "myMembership" in query else ADMIN
        # Documents with fragments (the timeline's union) stay on the normal path.
        await _compare(plain_client, client, compiler, query, variables, principal, compiled="..." not in query)


async def test_the_corners(app, client, plain_client, demo):
    compiler = _compiler(app)
    for query in CORNERS:
        variables = {"first": 3, "tags": ["retail"]} if "$first" in query else None
        status, body = await _post(plain_client, query, variables, ADMIN)
        await _compare(plain_client, client, compiler, query, variables, compiled=not body.get("errors"))


async def test_what_the_plan_hands_back_to_the_normal_path(app, client, plain_client, demo):
    compiler = _compiler(app)
    query = "query($id: ID!) { customer(id: $id) { name email } }"
    await _compare(plain_client, client, compiler, query, {"id": demo["customers"][0]})
    # A partner asking for a customer that is not its own, bad IDs, wrong variable types,
    # no credentials: the plan gives up and the normal path answers as always.
    other = next(c for c in demo["customers"] if c != demo["customers"][0])
    for variables, principal in [({"id": other}, demo["nora"]), ({"id": "not-an-id"}, ADMIN), ({"id": 42}, ADMIN),
                                 ({}, ADMIN), ({"id": demo["customers"][0]}, None)]:
        expected = await _post(plain_client, query, variables, principal)
        assert await _post(client, query, variables, principal) == expected, (variables, principal)
    # Documents the plan does not handle are never compiled.
    fragment = "query($id: ID!) { customer(id: $id) { ...F } } fragment F on Customer { name }"
    await _compare(plain_client, client, compiler, fragment, {"id": demo["customers"][0]}, compiled=False)
    directive = "query($id: ID!, $x: Boolean!) { customer(id: $id) { name @include(if: $x) } }"
    await _compare(plain_client, client, compiler, directive, {"id": demo["customers"][0], "x": True}, compiled=False)


async def test_the_plan_batches_like_the_normal_path(app, client, plain_client, demo, count_statements):
    """Loaders still batch across a list on the plan: the same statements, as many, for
    a page of 5 and a page of 20 customers (with their orders and contacts)."""
    compiler = _compiler(app)
    query = """query($n: Int) { customers(first: $n) { edges { node { name
      orders(first: 5) { edges { node { status total { amount } } } } contacts(first: 2) { edges { node { name } } } } } } }"""
    for size in (5, 20):
        with count_statements() as plain:
            await _post(plain_client, query, {"n": size}, ADMIN)
        await _post(client, query, {"n": size}, ADMIN)  # learns the document (first size only)
        answered = compiler.answered
        with count_statements() as compiled:
            await _post(client, query, {"n": size}, ADMIN)
        assert compiler.answered == answered + 1
        assert len(compiled) == len(plain) == 3, (compiled.statements, plain.statements)
