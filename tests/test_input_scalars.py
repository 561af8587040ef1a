"""Hostile input gets a typed error naming where it was, never INTERNAL_SERVER_ERROR.

One test per family of the issue: NUL and lone surrogates in strings, ilike patterns
ending in a backslash, DateTimes whose UTC instant leaves the supported range, odd
decimal spellings, invisible-only names, non-canonical global IDs, future placedAt and
huge JSON numbers. Bodies are sent with json.dumps(ensure_ascii=True) so a lone
surrogate travels as the JSON escape a client would send.
"""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import text

from tests.helpers import gid, new_customer, ok, refused
from tests.programme_helpers import agents_programme, enroll
from tests.conftest import ADMIN, token_for


@pytest.fixture
def send(client):
    async def post(query: str, variables: dict | None = None, *, as_=ADMIN) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}, ensure_ascii=True)
        response = await client.post("/graphql", content=body, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {token_for(as_)}"})
        assert response.status_code < 500, response.text
        return response.json()
    return post


def codes(body: dict) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


def bad_input(body: dict, *, argument: str | None = None, variable: str | None = None) -> None:
    assert codes(body) == ["BAD_USER_INPUT"], body
    extensions = body["errors"][0]["extensions"]
    if argument is not None:
        assert extensions.get("argument") == argument, body
    if variable is not None:
        assert extensions.get("variable") == variable, body


async def customer_count(connection) -> int:
    return (await connection.execute(text("SELECT count(*) FROM customer"))).scalar_one()


CUSTOMERS = "query($f: CustomerFilter) { customers(filter: $f) { totalCount } }"
CREATE = """mutation($input: CustomerCreateInput!) { customerCreate(input: $input, allowDuplicate: true) {
    customer { id } errors { field code } } }"""
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken errors { code } } }"


@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b", "\udfff"])
async def test_nul_and_lone_surrogates_are_refused_in_filters_mutations_and_login(send, connection, bad):
    bad_input(await send(CUSTOMERS, {"f": {"name": {"eq": bad}}}), variable="f")
    bad_input(await send(CUSTOMERS, {"f": {"name": {"ilike": bad}}}), variable="f")
    before = await customer_count(connection)
    bad_input(await send(CREATE, {"input": {"name": bad}}), variable="input")
    assert await customer_count(connection) == before
    bad_input(await send(LOGIN, {"e": bad, "p": "a long enough password"}), variable="e")
    bad_input(await send(LOGIN, {"e": "x@example.com", "p": bad}), variable="p")


async def test_inline_literals_are_refused_naming_the_argument(send):
    bad_input(await send('{ customers(filter: {name: {eq: "a\\u0000"}}) { totalCount } }'), argument="filter")
    bad_input(await send('{ node(id: "x\\u0000") { id } }'), argument="id")
    # The GraphQL lexer itself refuses a lone surrogate escape in a document: a parse error, typed too.
    assert codes(await send('{ node(id: "\\ud800") { id } }')) == ["GRAPHQL_PARSE_FAILED"]
    bad_input(await send('{ customers(filter: {createdAt: {gte: "9999-12-31T23:59:59-12:00"}}) { totalCount } }'),
              argument="filter")


@pytest.mark.parametrize("pattern", ["abc\\", "\\", "a\\\\\\"])
async def test_ilike_ending_in_a_lone_backslash_is_refused(send, pattern):
    bad_input(await send(CUSTOMERS, {"f": {"name": {"ilike": pattern}}}), argument="filter.name.ilike")


async def test_ilike_wildcards_and_escapes_match_as_documented(send, post_graphql):
    for name in ["100% pure", "100x pure", "a_b", "axb", "back\\slash"]:
        await new_customer(post_graphql, name)

    async def names(pattern: str) -> int:
        body = await send(CUSTOMERS, {"f": {"name": {"ilike": pattern}}})
        assert not body.get("errors"), body
        return body["data"]["customers"]["totalCount"]

    assert await names("100% pure") == 2
    assert await names("100\\% pure") == 1
    assert await names("a_b") == 2
    assert await names("a\\_b") == 1
    assert await names("%\\\\%") == 1


OUT_OF_RANGE_INSTANTS = ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z",
                         "1899-12-31T23:59:59Z", "9000-01-01T00:00:00Z", "8999-12-31T23:00:00-01:00"]


@pytest.mark.parametrize("instant", OUT_OF_RANGE_INSTANTS)
async def test_datetimes_outside_the_supported_range_are_refused(send, post_graphql, connection, instant):
    customer = await new_customer(post_graphql, "Acme")
    bad_input(await send(CUSTOMERS, {"f": {"createdAt": {"gte": instant}}}), variable="f")
    for query, variables, variable in [
        ("query($a: ID!, $at: DateTime) { membership(accountId: $a, at: $at) { id } }", {"a": customer, "at": instant}, "at"),
        ("query($a: ID!, $at: DateTime!) { tierAt(accountId: $a, at: $at) { toRank } }", {"a": customer, "at": instant}, "at"),
        ("query($at: DateTime) { rfm(currency: \"EUR\", asOf: $at) { segments { segment } } }", {"at": instant}, "at"),
        ("query($v: ID!, $at: DateTime) { programmePreview(versionId: $v, asOf: $at) { __typename } }",
         {"v": gid("RuleVersion", 1), "at": instant}, "at"),
        ("mutation($m: ID!, $at: DateTime!) { trainingBook(membershipId: $m, title: \"x\", sessionAt: $at) { errors { code } } }",
         {"m": gid("Membership", 1), "at": instant}, "at"),
    ]:
        bad_input(await send(query, variables), variable=variable)
    before = (await connection.execute(text("SELECT count(*) FROM sales_order"))).scalar_one()
    bad_input(await send("""mutation($i: OrderPlaceInput!) { orderPlace(input: $i) { order { id } errors { code } } }""",
                         {"i": {"customerId": customer, "lines": [], "placedAt": instant}}), variable="i")
    assert (await connection.execute(text("SELECT count(*) FROM sales_order"))).scalar_one() == before


async def test_the_ends_of_the_datetime_range_are_accepted(send):
    for instant in ["1900-01-01T00:00:00Z", "1900-01-01T01:00:00+01:00", "8999-12-31T23:59:59Z"]:
        body = await send(CUSTOMERS, {"f": {"createdAt": {"gte": instant}}})
        assert not body.get("errors"), body


async def test_membership_at_the_end_of_the_range_is_answered(send, post_graphql):
    programme = await agents_programme(post_graphql)
    account = await new_customer(post_graphql, "Northwind", classification="PARTNER")
    await enroll(post_graphql, account, programme["programme"], "B", "300000", "2025-02-01T00:00:00+08:00")
    body = await send("query($a: ID!) { membership(accountId: $a, at: \"8999-12-31T23:59:59Z\") { tier { code } } }",
                      {"a": account})
    assert codes(body) == [], body


@pytest.mark.parametrize("amount", [" 12 ", "1_000", "١٢", "１２", "-0", "-0.00", "1e3", "NaN", "Infinity", "+5",
                                    "12.", ".5", "1234567890123456", "0.1234567", ""])
async def test_non_canonical_decimals_are_refused(send, amount):
    bad_input(await send("query($f: OpportunityFilter) { opportunities(filter: $f) { totalCount } }",
                         {"f": {"amount": {"gte": amount}}}), variable="f")


async def test_canonical_decimals_are_accepted(send):
    for amount in ["12", "-12.5", "0", "0.000001", "999999999999.99"]:
        body = await send("query($f: OpportunityFilter) { opportunities(filter: $f) { totalCount } }",
                          {"f": {"amount": {"lte": amount}}})
        assert not body.get("errors"), body


@pytest.mark.parametrize("amount", ["1000000000000", "999999999999.991", "999999999999999.999999"])
async def test_amounts_above_the_columns_are_refused_in_filters(send, amount):
    bad_input(await send("query($f: OpportunityFilter) { opportunities(filter: $f) { totalCount } }",
                         {"f": {"amount": {"gte": amount}}}), argument="filter.amount.gte")


@pytest.mark.parametrize("name", ["\u200b", "\u200b\u200c\u200d\ufeff", " \u2060 ", "\u3164", "\u2800\u00a0", "\u202e"])
async def test_names_of_invisible_characters_only_are_refused(post_graphql, connection, name):
    before = await customer_count(connection)
    assert await refused(post_graphql, CREATE, {"input": {"name": name}}, "customerCreate") == [("name", "REQUIRED")]
    assert await customer_count(connection) == before


async def test_a_name_with_a_visible_character_and_a_joiner_is_kept(post_graphql):
    await ok(post_graphql, CREATE, {"input": {"name": "A\u200db"}}, "customerCreate")


def _b64(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


@pytest.mark.parametrize("spelling", ["Customer: {pk}", "Customer:000{pk}", "Customer:+{pk}", "Customer:-{pk}", "Customer:{pk} ",
                                      "Customer:{arabic}"])
async def test_global_ids_in_non_canonical_spellings_are_refused(send, post_graphql, spelling):
    customer = await new_customer(post_graphql, "Acme")
    pk = int(base64.b64decode(customer).decode().split(":")[1])
    arabic = "".join(chr(0x0660 + int(d)) for d in str(pk))
    odd = _b64(spelling.format(pk=pk, arabic=arabic))
    body = await send("query($id: ID!) { customer(id: $id) { id } }", {"id": odd})
    assert codes(body) == ["INVALID_ID"], body
    assert (await send("query($id: ID!) { customer(id: $id) { id } }", {"id": customer}))["data"]["customer"]["id"] == customer


async def test_base64_without_padding_is_not_an_id(send, post_graphql):
    customer = await new_customer(post_graphql, "Acme")
    body = await send("query($id: ID!) { node(id: $id) { id } }", {"id": customer.rstrip("=") + "\n"})
    assert codes(body) == ["INVALID_ID"], body


async def test_placing_an_order_in_the_future_is_refused(post_graphql, connection):
    customer = await new_customer(post_graphql, "Acme")
    product = (await ok(post_graphql, """mutation($i: ProductCreateInput!) { productCreate(input: $i) {
        product { id } errors { field code } } }""", {"i": {"sku": "P1", "name": "Widget",
        "listPrice": {"amount": "10.00", "currency": "EUR"}}}, "productCreate"))["product"]["id"]
    before = (await connection.execute(text("SELECT count(*) FROM sales_order"))).scalar_one()
    assert await refused(post_graphql, """mutation($i: OrderPlaceInput!) { orderPlace(input: $i) {
        order { id } errors { field code } } }""", {"i": {"customerId": customer, "lines": [{"productId": product, "quantity": 1}],
        "placedAt": "2999-01-01T00:00:00Z"}}, "orderPlace") == [("placedAt", "OUT_OF_RANGE")]
    assert (await connection.execute(text("SELECT count(*) FROM sales_order"))).scalar_one() == before


@pytest.mark.parametrize("value", ["1e400", "-1e400", "10" + "0" * 399, "9007199254740993"])
async def test_huge_json_numbers_are_refused(send, connection, value):
    before = await customer_count(connection)
    body = await send('mutation { customerCreate(input: {name: "Acme", attributes: {size: ' + value + '}}) { errors { code } } }')
    bad_input(body, argument="input")
    assert await customer_count(connection) == before
    bad_input(await send('{ customers(filter: {attributes: [{key: "size", eq: ' + value + '}]}) { totalCount } }'),
              argument="filter")


async def test_json_strings_and_depth_are_checked(send):
    bad_input(await send(CREATE, {"input": {"name": "Acme", "attributes": {"a": "x\x00"}}}), variable="input")
    bad_input(await send(CREATE, {"input": {"name": "Acme", "attributes": {"a\ud800": 1}}}), variable="input")
    deep: object = 1
    for _ in range(10):
        deep = [deep]
    bad_input(await send(CREATE, {"input": {"name": "Acme", "attributes": {"a": deep}}}), variable="input")


async def test_a_directive_variable_sent_as_null_is_the_clients_error(post_graphql):
    """`$i: Boolean = true` may stand where `Boolean!` is expected; an explicit null then
    reaches graphql-core while it collects the fields below (found from outside: it was
    INTERNAL_SERVER_ERROR on both paths)."""
    from tests.helpers import new_customer

    await new_customer(post_graphql, "Acme")
    for query in ("query($i: Boolean = true) { customers(first: 2) { edges { node { name @include(if: $i) id } } } }",
                  "query($i: Boolean = true) { customers(first: 2) @include(if: $i) { totalCount } }"):
        assert not (await post_graphql(query, {})).errors  # the engine learns the document
        for _ in range(2):
            result = await post_graphql(query, {"i": None})
            assert result.status == 200 and result.data is None, result.body
            assert result.error_codes == ["BAD_USER_INPUT"] or result.error_codes == ["GRAPHQL_VALIDATION_FAILED"], result.body
            assert "INTERNAL_SERVER_ERROR" not in json.dumps(result.body)
