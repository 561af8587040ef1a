"""Requests generated from the schema: every query and mutation, random arguments, the
hostile families of bad input among them, as an admin and as a partner. Whatever comes
in, the answer is never a 5xx nor INTERNAL_SERVER_ERROR, and a mutation that failed
changed no row.

Bounded for the suite (CRM_FUZZ_EXAMPLES examples per root field and role, default 2);
`CRM_FUZZ_EXAMPLES=200 make test PYTEST_ARGS="tests/test_fuzz.py"` runs a longer search.
"""

from __future__ import annotations

import base64
import json
import os

import graphql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import from_schema, nodes
from sqlalchemy import text

from crm.auth import Principal, Role
from models import Base
from schema.root import schema
from tests.conftest import ADMIN, token_for
from tests.helpers import new_customer

EXAMPLES = int(os.environ.get("CRM_FUZZ_EXAMPLES", "2"))

# Rows a refused call writes on purpose: a failed login is counted for throttling.
WRITTEN_BY_REFUSALS = {"login_attempt"}

DATETIMES = st.sampled_from([
    "2026-01-31T09:00:00+01:00", "2026-01-31T09:00:00Z", "2026-01-31T09:00:00", "9999-12-31T23:59:59-12:00",
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z", "1899-12-31T23:59:59Z", "8999-12-31T23:59:59Z",
    "1900-01-01T00:00:00Z", "not a date", "2026-02-30T00:00:00Z", "2026-01-31T09:00:00\x00",
]) | st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
DECIMALS = st.sampled_from([
    "12", "-12.5", "0", "0.01", " 12 ", "1_000", "١٢", "-0", "-0.00", "1e3", "NaN", "Infinity", "1" * 16,
    "999999999999.99", "1000000000000", "0.0000001", "",
]) | st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-10**6, max_value=10**6).map(str)
HOSTILE_TEXT = st.sampled_from(["", "\x00", "a\x00b", "\u200b\u200c", "\u3164", "abc\\", "%_\\%", "x" * 300])
JSON_VALUES = st.recursive(
    st.just(nodes.Null) | st.booleans().map(nodes.Boolean) | st.integers(min_value=-10**3, max_value=10**3).map(nodes.Int)
    | st.sampled_from(["1" + "0" * 400, str(2**53 + 1)]).map(nodes.Int)
    | st.sampled_from(["1e400", "-1e400", "1.5"]).map(nodes.Float)
    | (st.text(max_size=10) | HOSTILE_TEXT).map(nodes.String),
    lambda children: st.lists(children, max_size=3).map(nodes.List)
    | st.dictionaries(st.sampled_from(["industry", "size", "a\x00", ""]), children, max_size=3).map(
        lambda d: nodes.Object([graphql.ObjectFieldNode(name=graphql.NameNode(value=k or "k"), value=v)
                                for k, v in d.items()])),
    max_leaves=6,
)

CUSTOM_SCALARS = {
    "DateTime": (DATETIMES | HOSTILE_TEXT).map(nodes.String),
    "Date": st.sampled_from(["2026-01-31", "0001-01-01", "9999-12-31", "2026-13-01", "x"]).map(nodes.String),
    "Decimal": DECIMALS.map(nodes.String) | st.sampled_from(["12", "1" + "0" * 40]).map(nodes.Int)
    | st.sampled_from(["1e400", "0.1"]).map(nodes.Float),
    "JSON": JSON_VALUES,
}

QUERIES = sorted(schema._schema.query_type.fields)
MUTATIONS = sorted(schema._schema.mutation_type.fields)
SCHEMA = schema._schema


async def fingerprint(connection) -> dict[str, str]:
    """Every table's rows, hashed: what a failed mutation must leave as it was."""
    tables = [t.name for t in Base.metadata.sorted_tables if t.name not in WRITTEN_BY_REFUSALS]
    union = " UNION ALL ".join(
        f"SELECT '{name}', md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM \"{name}\" t"
        for name in tables)
    return dict((await connection.execute(text(union))).all())


def failed(body: dict, field: str) -> bool:
    """The mutation itself was refused: no payload, payload errors, or an error on the
    field. An error deeper in the selection (a bad page argument on a nested list) is
    a failed read of what the mutation did, not a failed mutation."""
    payload = (body.get("data") or {}).get(field)
    on_field = any((e.get("path") or [field]) == [field] for e in body.get("errors") or [])
    return not isinstance(payload, dict) or bool(payload.get("errors")) or on_field


@pytest.fixture
async def principals(post_graphql) -> dict[str, Principal]:
    partner = await new_customer(post_graphql, "Northwind", classification="PARTNER")
    account_id = int(base64.b64decode(partner).decode().split(":")[1])
    return {"admin": ADMIN, "partner": Principal("partner@test", Role.PARTNER, account_id=account_id)}


async def run(client, connection, principal: Principal, document: str, field: str, mutation: bool,
              variables: dict | None = None) -> None:
    before = await fingerprint(connection) if mutation else None
    # ensure_ascii: a lone surrogate travels as the JSON escape "\ud800", as clients send it.
    body = json.dumps({"query": document, "variables": variables or {}}, ensure_ascii=True)
    response = await client.post("/graphql", content=body, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token_for(principal)}"})
    assert response.status_code < 500, (document, response.text)
    answer = response.json()
    codes = [e.get("extensions", {}).get("code") for e in answer.get("errors") or []]
    assert "INTERNAL_SERVER_ERROR" not in codes, (document, answer)
    if mutation and failed(answer, field):
        assert await fingerprint(connection) == before, (document, answer)


FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=EXAMPLES <= 2,
                suppress_health_check=list(HealthCheck))


def documents(field: str):
    return from_schema(SCHEMA, fields=[field], custom_scalars=CUSTOM_SCALARS)


@pytest.mark.parametrize("role", ["admin", "partner"])
@pytest.mark.parametrize("field", QUERIES)
@FUZZ
@given(data=st.data())
async def test_fuzz_queries(client, connection, principals, role, field, data):
    await run(client, connection, principals[role], data.draw(documents(field)), field, mutation=False)


@pytest.mark.parametrize("role", ["admin", "partner"])
@pytest.mark.parametrize("field", MUTATIONS)
@FUZZ
@given(data=st.data())
async def test_fuzz_mutations(client, connection, principals, role, field, data):
    await run(client, connection, principals[role], data.draw(documents(field)), field, mutation=True)


# Values a document literal cannot carry (the lexer refuses a lone surrogate escape) or
# that only arrive as variables: sent as JSON escapes, as a client sends them.
HOSTILE_VARIABLES = {
    "String": st.sampled_from(["\ud800", "a\udfffb", "\x00", "\u200b", "abc\\", ""]) | st.text(max_size=5),
    "ID": st.sampled_from(["\ud800", base64.b64encode(b"Customer: 1").decode(), base64.b64encode(b"Customer:0001").decode(),
                           base64.b64encode("Customer:١".encode()).decode(), "", "A" * 300]),
    "DateTime": DATETIMES,
    "Decimal": DECIMALS | st.sampled_from([float("inf"), 1e400, 10**400, -0.0, True]),
    "JSON": st.sampled_from([float("nan"), 1e400, 10**400, {"a": "\ud800"}, [[[[[[[[[[1]]]]]]]]]]]),
    "Int": st.sampled_from([0, -1, 2**31, 10**400]),
    "Boolean": st.booleans(),
}


def _scalar_arguments(field: graphql.GraphQLField) -> dict[str, graphql.GraphQLInputType] | None:
    """The field's arguments when every required one is a scalar (or list of them)."""
    found = {}
    for name, argument in field.args.items():
        named = graphql.get_named_type(argument.type)
        if isinstance(named, graphql.GraphQLScalarType) and named.name in HOSTILE_VARIABLES:
            found[name] = argument.type
        elif graphql.is_non_null_type(argument.type) and argument.default_value is graphql.Undefined:
            return None
    return found or None


def _variable_cases():
    for root, mutation in ((SCHEMA.query_type, False), (SCHEMA.mutation_type, True)):
        for name, field in sorted(root.fields.items()):
            arguments = _scalar_arguments(field)
            if arguments:
                yield pytest.param(root.name.lower(), name, arguments, mutation, id=name)


@st.composite
def _values(draw, type_: graphql.GraphQLInputType):
    if graphql.is_non_null_type(type_):
        type_ = type_.of_type
    if graphql.is_list_type(type_):
        return draw(st.lists(_values(type_.of_type), max_size=2))
    return draw(HOSTILE_VARIABLES[type_.name])


@pytest.mark.parametrize("role", ["admin", "partner"])
@pytest.mark.parametrize(("operation", "field", "arguments", "mutation"), list(_variable_cases()))
@FUZZ
@given(data=st.data())
async def test_fuzz_hostile_variables(client, connection, principals, role, operation, field, arguments, mutation, data):
    chosen = data.draw(st.lists(st.sampled_from(sorted(arguments)), min_size=1, unique=True))
    required = [a for a in arguments if graphql.is_non_null_type(arguments[a])]
    names = sorted(set(chosen) | set(required))
    definitions = ", ".join(f"${a}: {arguments[a]}" for a in names)
    passed = ", ".join(f"{a}: ${a}" for a in names)
    selection = "" if graphql.is_leaf_type(graphql.get_named_type(
        (SCHEMA.query_type if operation == "query" else SCHEMA.mutation_type).fields[field].type)) else " { __typename }"
    document = f"{operation}({definitions}) {{ {field}({passed}){selection} }}"
    variables = {a: data.draw(_values(arguments[a])) for a in names}
    await run(client, connection, principals[role], document, field, mutation, variables=variables)
