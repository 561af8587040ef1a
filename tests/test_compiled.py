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
import json
import re
from pathlib import Path

import httpx
import pytest

from bench import scenarios
from core.demo import demo_partner, seed_demo_data
from crm.auth import Principal, Role
from engine.sql.carry import LEARNED
from server import create_app
from resolvers.ids import to_global_id
from tests.conftest import ADMIN, token_for

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
README_QUERIES = [q for q in re.findall(r"```graphql\n(.*?)```", README, re.S) if not q.lstrip().startswith(("mutation", "subscription"))]

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


def engine_of(app):
    """The engine of the app's GraphQL view (engine/)."""
    for route in app.routes:
        endpoint = getattr(route, "app", None) or getattr(route, "endpoint", None)
        if getattr(endpoint, "engine", None) is not None:
            return endpoint.engine
    raise AssertionError("no engine in the app")


def answered(engine) -> int:
    """Requests answered by one of the engine's plans (not the normal path)."""
    return engine.paths["sql"] + engine.paths["plan"]


async def _post(client, query, variables, principal):
    headers = {"Authorization": f"Bearer {token_for(principal)}"} if principal else {}
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    body = response.json()
    for error in body.get("errors") or []:
        error.get("extensions", {}).pop("requestId", None)  # differs per request by design
    return response.status_code, body


async def _compare(plain_client, client, compiler, query, variables=None, principal=ADMIN, *, compiled=True,
                   sql=None):
    """`sql`: whether the single-statement path (engine/sql/) must answer it."""
    expected = await _post(plain_client, query, variables, principal)
    first = await _post(client, query, variables, principal)
    before, by_sql = answered(compiler), compiler.paths["sql"]
    second = await _post(client, query, variables, principal)
    # Key order too: json.dumps keeps it, dict equality would not look.
    assert json.dumps(first) == json.dumps(expected), query
    assert json.dumps(second) == json.dumps(expected), query
    assert (answered(compiler) == before + 1) is compiled, (query, compiler.gave_up)
    if sql is not None:
        assert (compiler.paths["sql"] == by_sql + 1) is sql, query
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
    compiler = engine_of(app)
    await _compare(plain_client, client, compiler, scenarios.CUSTOMER_LIST, sql=True)
    for customer in demo["customers"]:
        status, body = await _compare(plain_client, client, compiler, scenarios.CUSTOMER_DETAIL, {"id": customer}, sql=True)
        assert status == 200 and body["data"]["customer"]["id"] == customer
    status, body = await _compare(plain_client, client, compiler, scenarios.MY_MEMBERSHIP, principal=demo["nora"])
    assert body["data"]["myMembership"]["tier"]["code"] == "B"


async def test_every_readme_query(app, client, plain_client, demo):
    compiler = engine_of(app)
    values = {"id": demo["customers"][0], "programmeId": demo["programme"]}
    for query in README_QUERIES:
        variables = {name: value for name, value in values.items() if f"${name}" in query}
        principal = demo["nora"] if "myMembership" in query else ADMIN
        # The customer pages (fragments on the timeline's union too) in one statement.
        await _compare(plain_client, client, compiler, query, variables, principal,
                       sql=True if "customer" in query.split("{")[1] else None)


async def test_the_corners(app, client, plain_client, demo):
    compiler = engine_of(app)
    for query in CORNERS:
        variables = {"first": 3, "tags": ["retail"]} if "$first" in query else None
        status, body = await _post(plain_client, query, variables, ADMIN)
        await _compare(plain_client, client, compiler, query, variables, compiled=not body.get("errors"))


async def test_what_the_plan_hands_back_to_the_normal_path(app, client, plain_client, demo):
    compiler = engine_of(app)
    query = "query($id: ID!) { customer(id: $id) { name email } }"
    await _compare(plain_client, client, compiler, query, {"id": demo["customers"][0]})
    # A partner asking for a customer that is not its own, bad IDs, wrong variable types,
    # no credentials: the plan gives up and the normal path answers as always.
    other = next(c for c in demo["customers"] if c != demo["customers"][0])
    for variables, principal in [({"id": other}, demo["nora"]), ({"id": "not-an-id"}, ADMIN), ({"id": 42}, ADMIN),
                                 ({}, ADMIN), ({"id": demo["customers"][0]}, None)]:
        expected = await _post(plain_client, query, variables, principal)
        assert await _post(client, query, variables, principal) == expected, (variables, principal)
    # Fragments and directives are the single statement's too, one plan per value of
    # the directives' variables.
    fragment = "query($id: ID!) { customer(id: $id) { ...F } } fragment F on Customer { name }"
    await _compare(plain_client, client, compiler, fragment, {"id": demo["customers"][0]}, sql=True)
    directive = "query($id: ID!, $x: Boolean!) { customer(id: $id) { name @include(if: $x) email @skip(if: $x) } }"
    for x in (True, False, True):
        await _compare(plain_client, client, compiler, directive, {"id": demo["customers"][0], "x": x}, sql=True)


async def test_the_plan_batches_like_the_normal_path(app, client, plain_client, demo, count_statements):
    """Loaders still batch across a list on the plan: the same statements, as many, for
    a page of 5 and a page of 20 deals per pipeline column (a root with no SQL form)
    with their customers and owners."""
    compiler = engine_of(app)
    query = """query($n: Int) { pipeline { stage opportunities(first: $n) { edges { node { name customer { name }
      owner { name } } } } } }"""
    counts = set()
    for size in (5, 20):
        async with count_statements() as plain:
            await _post(plain_client, query, {"n": size}, ADMIN)
        await _post(client, query, {"n": size}, ADMIN)  # learns the document (first size only)
        before = compiler.paths["plan"]
        async with count_statements() as compiled:
            await _post(client, query, {"n": size}, ADMIN)
        assert compiler.paths["plan"] == before + 1
        assert len(compiled) == len(plain), (compiled.statements, plain.statements)
        counts.add(len(compiled))
    assert len(counts) == 1 and counts.pop() <= 4


async def test_a_field_without_sql_form_costs_that_field_not_the_screen(app, client, plain_client, demo,
                                                                        count_statements):
    """`consent` has a hand-written resolver: the list is still one statement. The first
    time, the field's rows are read by id in one more statement, and what its resolver
    reads is learnt; from then on the statement carries those columns
    (engine/sql/carry.py): one statement at any page size, the same answer."""
    LEARNED.forget()
    compiler = engine_of(app)
    query = """query($n: Int) { customers(first: $n) { edges { node { name owner { name } consent { emailOptOut }
      orders(first: 5) { edges { node { status total { amount } } } } contacts(first: 2) { edges { node { name } } } } } } }"""
    await _post(client, query, {"n": 5}, ADMIN)  # learns the document
    async with count_statements() as statements:
        await _compare(plain_client, client, compiler, query, {"n": 5}, sql=True)
    by_id = [s for s in statements.statements if "ANY($1::bigint[])" in s]
    assert len(by_id) == 1, statements.statements  # the first engine answer read the rows by id
    assert LEARNED.carried("Customer") == ("id", "do_not_contact", "email_opt_out", "phone_opt_out", "sms_opt_out")
    for size in (5, 20):
        await _compare(plain_client, client, compiler, query, {"n": size}, sql=True)
        async with count_statements() as statements:
            await _post(client, query, {"n": size}, ADMIN)
        assert len(statements) == 1, statements.statements


async def test_a_carried_row_that_misses_a_column_is_read_by_id_and_the_column_learnt(
        app, client, plain_client, demo, count_statements):
    """A resolver with branches reads other columns for other arguments: a column that
    is not carried is never answered with a default; that request reads the rows by id
    after all and resolves the fields again, and the next plans carry what they read."""
    LEARNED.forget()
    compiler = engine_of(app)
    first = "{ customers(first: 20) { edges { node { name contactable } } } }"
    await _post(client, first, None, ADMIN)
    await _compare(plain_client, client, compiler, first, sql=True)
    assert LEARNED.carried("Customer") == ("id", "do_not_contact")
    # By email, it also reads the opt-out and the email of every customer that may be contacted.
    by_email = "{ customers(first: 20) { edges { node { name contactable(by: EMAIL) } } } }"
    expected = await _post(plain_client, by_email, None, ADMIN)
    await _post(client, by_email, None, ADMIN)  # learns the document
    gave_up, by_sql = compiler.gave_up, compiler.paths["sql"]
    async with count_statements() as statements:
        assert json.dumps(await _post(client, by_email, None, ADMIN)) == json.dumps(expected)
    assert compiler.paths["sql"] == by_sql + 1 and len(statements) == 2, statements.statements  # + the rows by id
    assert set(LEARNED.carried("Customer")) == {"id", "do_not_contact", "email", "email_opt_out"}
    async with count_statements() as statements:
        assert json.dumps(await _post(client, by_email, None, ADMIN)) == json.dumps(expected)
    assert compiler.paths["sql"] == by_sql + 2 and len(statements) == 1, statements.statements
    assert compiler.gave_up == gave_up


async def test_one_statement_whatever_the_page_size(app, client, demo, count_statements):
    compiler = engine_of(app)
    query = """query($n: Int) { customers(first: $n) { totalCount edges { node { name
      orders(first: 5) { edges { node { status total { amount } } } } contacts(first: 2) { totalCount edges { node { name } } } } } } }"""
    await _post(client, query, {"n": 2}, ADMIN)  # learns the document
    for size in (2, 10):
        by_sql = compiler.paths["sql"]
        async with count_statements() as statements:
            status, body = await _post(client, query, {"n": size}, ADMIN)
        assert status == 200 and len(body["data"]["customers"]["edges"]) == size
        assert compiler.paths["sql"] == by_sql + 1
        assert len(statements) == 1, statements.statements


SQL_CORNERS = [
    # Every field the path declares, with cursors, typenames and aliases.
    """query($n: Int, $after: String) { list: customers(first: $n, after: $after, orderBy: [{field: CREATED_AT, direction: DESC}]) {
         __typename pageInfo { __typename hasNextPage hasPreviousPage startCursor endCursor }
         edges { __typename cursor node { __typename id name kind classification lifecycleStage email phone taxId tags
           attributes archivedAt createdAt updatedAt
           orders(first: 3) { edges { cursor node { id status total { amount currency __typename } returnedTotal { amount }
             netTotal { amount currency } source externalReference placedAt paidAt cancelledAt } } pageInfo { hasNextPage endCursor } }
           opportunities(first: 3) { edges { node { id name amount { amount } stage probability weightedAmount { amount currency }
             expectedClose lostReason stageChangedAt createdAt updatedAt } } }
           activities(first: 3) { edges { node { id kind subject body occurredAt dueAt doneAt createdAt } } }
           contacts(first: 3) { edges { cursor node { id name title email phone archivedAt createdAt } } } } } } }""",
    # Ordered by name (cursors hold the name), backwards, with filters on the nested lists.
    """query($before: String) { customers(last: 4, before: $before, orderBy: [{field: NAME}, {field: CREATED_AT, direction: DESC}]) {
         pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
         edges { cursor node { name opportunities(first: 5, filter: {open: true}) { edges { node { name stage } } }
           orders(last: 2) { pageInfo { hasPreviousPage startCursor } edges { node { placedAt } } } } } } }""",
    """query($id: ID!) { one: customer(id: $id) { id name createdAt contacts { edges { node { name } } } }
         two: customer(id: $id) { __typename name } }""",
    # totalCount: of the root (with and without a page), of nested lists (with and without edges).
    """query($tags: [String!]) { all: customers { totalCount } tagged: customers(first: 2, filter: {tags: {containsAny: $tags}}) {
         totalCount pageInfo { hasNextPage } edges { node { name contacts { totalCount }
           orders(last: 1) { totalCount edges { node { status } } } opportunities(filter: {open: true}) { totalCount } } } } }""",
    # To-one relations (loaded by id on the normal path), null foreign keys included.
    """{ customers(first: 20) { edges { node { name owner { id name email role active createdAt __typename }
         sourceChannel { id name kind active archivedAt } referringPartner { name owner { name } } mergedInto { name }
         orders(first: 2) { edges { node { customer { name } placedBy { name } } } }
         opportunities(first: 2) { edges { node { customer { name } owner { email } channel { name } } } }
         activities(first: 2) { edges { node { customer { id } user { name } } } }
         contacts(first: 2) { edges { node { customer { name } } } } } } } }""",
    # A variable in a nested list's arguments: the statement is compiled per request.
    """query($m: Int, $open: Boolean) { customers(first: 5) { edges { node { name
         orders(first: $m) { pageInfo { hasNextPage } edges { cursor node { status } } }
         opportunities(first: 3, filter: {open: $open}) { edges { node { name stage } } } } } } }""",
]


async def test_the_single_statement_corners(app, client, plain_client, demo, post_graphql, connection):
    """Values where SQL and Python could write differently: microseconds or none,
    escapes and non-ASCII text (also inside cursors), nulls, money rounding, empty lists."""
    from sqlalchemy import text

    compiler = engine_of(app)
    odd = await post_graphql("""mutation($name: String!) { customerCreate(input: {name: $name, tags: [], email: "z@example.com"}) {
        customer { id } errors { code } } }""", {"name": 'Zoë \\ "Ünïcødé" \u2028 🚀 </script>'})
    odd_id = odd.data["customerCreate"]["customer"]["id"]
    # Text that spells the cursor marker (a backslash and u0000, quotes around): only real
    # NULs mark cursors, and text cannot hold one.
    await post_graphql("""mutation($name: String!) { customerCreate(input: {name: $name}) { errors { code } } }""",
                       {"name": '"\\u0000["name:a",["x",1]]" \\"\\u0000'})
    deal = await post_graphql("""mutation($c: ID!) { opportunityCreate(input: {customerId: $c, name: "Half cent",
        amount: {amount: "0.05", currency: "EUR"}, probability: 50}) { opportunity { id } errors { code } } }""", {"c": odd_id})
    assert deal.data["opportunityCreate"]["errors"] == []
    await post_graphql("""mutation($c: ID!) { contactCreate(input: {customerId: $c, name: "Ånne", title: "CFO"}) {
        errors { code } } }""", {"c": odd_id})
    from resolvers.ids import from_global_id
    pk = from_global_id(odd_id)[1]
    # Whole seconds on one, microseconds on the other: isoformat writes them differently.
    await connection.execute(text("UPDATE customer SET created_at = '2026-01-02 03:04:05+00', updated_at = "
                                  "'2026-01-02 03:04:05.000001+00', attributes = '{\"b\": [1, 2.5, null], \"a\": \"x\"}' "
                                  "WHERE id = :pk"), {"pk": pk})
    first = await _post(plain_client, SQL_CORNERS[0], {"n": 5}, ADMIN)
    after = first[1]["data"]["list"]["pageInfo"]["endCursor"]
    for variables in ({"n": 5}, {"n": 0}, {"n": 3, "after": after}, {"n": 100}):
        await _compare(plain_client, client, compiler, SQL_CORNERS[0], variables, sql=True)
    by_name = await _post(plain_client, SQL_CORNERS[1], {}, ADMIN)
    assert any("Zo" in e["node"]["name"] for e in by_name[1]["data"]["customers"]["edges"])
    for variables in ({}, {"before": by_name[1]["data"]["customers"]["pageInfo"]["startCursor"]}):
        await _compare(plain_client, client, compiler, SQL_CORNERS[1], variables, sql=True)
    await _compare(plain_client, client, compiler, SQL_CORNERS[2], {"id": odd_id}, sql=True)
    first_by_name = "{ customers(first: 2, orderBy: [{field: NAME}]) { edges { cursor node { name } } } }"
    status, body = await _compare(plain_client, client, compiler, first_by_name, sql=True)
    assert "u0000" in body["data"]["customers"]["edges"][0]["node"]["name"]
    for variables in ({"tags": ["retail"]}, {"tags": ["no-such-tag"]}, {}):
        await _compare(plain_client, client, compiler, SQL_CORNERS[3], variables, sql=True)
    status, body = await _compare(plain_client, client, compiler, SQL_CORNERS[4], sql=True)
    nodes = [e["node"] for e in body["data"]["customers"]["edges"]]
    assert any(n["owner"] for n in nodes) and any(n["owner"] is None for n in nodes), "both cases in the data"
    assert any(n["sourceChannel"] for n in nodes) and any(n["sourceChannel"] is None for n in nodes)
    for variables in ({"m": 1, "open": True}, {"m": 3, "open": False}, {"m": 0}):
        await _compare(plain_client, client, compiler, SQL_CORNERS[5], variables, sql=True)
    # An IN list in the root's rows: its length changes the SQL, so it is not kept by shape.
    listed = "query($ids: [ID!]) { customers(filter: {id: {in: $ids}}) { edges { node { id name } } } }"
    for ids in (demo["customers"][:1], demo["customers"][:3], [odd_id, *demo["customers"][2:4]]):
        status, body = await _compare(plain_client, client, compiler, listed, {"ids": ids}, sql=True)
        assert {e["node"]["id"] for e in body["data"]["customers"]["edges"]} == set(ids)


async def test_the_single_statement_hands_back(app, client, plain_client, demo):
    """What the single statement does not answer itself: a partner (scoped rows, and a
    staff-only list it may not see), a bad cursor, a page too large, a missing id."""
    compiler = engine_of(app)
    nora = demo["nora"]
    scoped = """{ customers(first: 10) { edges { node { name orders(first: 5) { edges { node { status } } }
                 opportunities(first: 5) { edges { node { name } } } } } } }"""
    await _compare(plain_client, client, compiler, scoped, principal=nora, sql=True)
    own = "query($id: ID!) { customer(id: $id) { name orders { edges { node { status total { amount } } } } } }"
    await _compare(plain_client, client, compiler, own, {"id": to_global_id("Customer", nora.account_id)}, principal=nora, sql=True)
    counted = """{ customers { totalCount edges { node { owner { name } orders { totalCount edges { node { customer { name } } } }
                   opportunities { totalCount } } } } }"""
    status, body = await _compare(plain_client, client, compiler, counted, principal=nora, sql=True)
    assert body["data"]["customers"]["totalCount"] == len(body["data"]["customers"]["edges"])
    staff_only = "{ customers(first: 3) { edges { node { name contacts { edges { node { name } } } } } } }"
    await _compare(plain_client, client, compiler, staff_only, principal=nora, compiled=False)
    paged = "query($after: String, $n: Int) { customers(first: $n, after: $after) { edges { node { name } } } }"
    await _compare(plain_client, client, compiler, paged, {"n": 2}, sql=True)
    for variables in ({"after": "bm90IGEgY3Vyc29y", "n": 2}, {"n": 101}, {"n": -1}):
        expected = await _post(plain_client, paged, variables, ADMIN)
        assert expected[1]["errors"]
        assert await _post(client, paged, variables, ADMIN) == expected
    await _compare(plain_client, client, compiler, "query($id: ID!) { customer(id: $id) { name } }",
                   {"id": to_global_id("Customer", 10**9)}, sql=True)
