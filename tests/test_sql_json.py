"""The single statement writes its JSON by concatenating text (engine/sql/common.py's
builders), not with json_build_object: what those builders could get wrong, checked.

1. The builders against json_build_object / json_agg in PostgreSQL itself, on generated
   values (hostile strings, NULLs, numbers, booleans, arrays, JSON): the same JSON values,
   in the same key order, and `[]` for an empty aggregate.
2. A NULL in a concatenation makes the whole concatenation NULL, which would blank a
   whole object (or the whole answer): every nullable column a declared field reads
   (schema/fields.py), of every row-backed type, is set to NULL on one row, every
   declared String column to hostile text on another, and every root list and
   node(id:) over them must answer as the normal path does (tests/test_agreement.py's
   comparison, the fast path answering).
3. Shapes the builders write differently: totalCount alone, pageInfo alone, backward
   pages, empty lists, cursors alone, aliases, `__typename` at every level.
"""

from __future__ import annotations

import json

from graphql import GraphQLNonNull, GraphQLScalarType
from hypothesis import given, settings as hypothesis_settings, strategies as st
from sqlalchemy import String, literal_column, select, update
from sqlalchemy.exc import DBAPIError

from engine.sql.common import (
    ASYNCPG, Const, const_of, json_array, json_array_agg, json_object, json_or_null, json_value,
)
from resolvers.ids import NODE_LOADERS
from schema.fields import Column as ColumnSource, GlobalId, MoneyOf, ToOne, declared_source
from tests.conftest import ADMIN
from tests.helpers import gid
from tests.test_agreement import (  # noqa: F401  (fixtures: the data, the comparison, generous limits)
    GRAPHQL, ROOT_LISTS, agreement, data, id_for_factory, node_query, root_list_query, settings,
    single_statement_expected,
)
from tests.test_compiled import plain_client  # noqa: F401
from tests.test_tenant_walk import NODE_TYPE_NAMES, pk_of
from tests.test_tenant_walk import world  # noqa: F401

# PostgreSQL text holds no NUL; lone surrogates are not UTF-8.
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
HOSTILE = ("Q 'single' \"double\" \\ back\\slash \\u0000 /slash\n\r\t \x01\x1f \u2028\u2029 é ü \U0001F600 "
           "</script> ${x} :name ")


def _compile(expression) -> str:
    return str(select(expression).compile(dialect=ASYNCPG, compile_kwargs={"literal_binds": True}))


async def test_builders_write_what_json_build_object_writes(database):
    """Values of every kind the statement writes, NULL included, through json_value,
    json_object, json_array and json_array_agg, against json_build_object and json_agg."""
    async with database.driver_connection() as connection:
        async def compare(values: list) -> None:
            # $1.. as text, int, boolean, json, text[] by position; any may be NULL.
            casts = ["text", "bigint", "boolean", "json", "text[]"]
            args = [literal_column(f"${i + 1}::{casts[i % 5]}") for i in range(len(values))]
            ours = _compile(json_object([(f"k{i}", json_value(a)) for i, a in enumerate(args)]
                                        + [("t", const_of("Type")), ("n", json_or_null(literal_column("NULL")))]))
            theirs = "SELECT json_build_object(" + ", ".join(
                f"'k{i}', ${i + 1}::{casts[i % 5]}" for i in range(len(values))) + ", 't', 'Type', 'n', NULL)::text"
            parameters = [None if v is None else json.dumps(v) if i % 5 == 3 else v for i, v in enumerate(values)]
            got, want = await connection.fetchval(ours, *parameters), await connection.fetchval(theirs, *parameters)
            assert got is not None
            assert json.dumps(json.loads(got)) == json.dumps(json.loads(want)), (got, want)
            array = _compile(json_array([json_value(a) for a in args]))
            got = await connection.fetchval(array, *parameters)
            want = await connection.fetchval("SELECT json_build_array(" + ", ".join(
                f"${i + 1}::{casts[i % 5]}" for i in range(len(values))) + ")::text", *parameters)
            assert json.loads(got) == json.loads(want), (got, want)

        json_leaves = st.none() | st.booleans() | st.integers(-2**62, 2**62) | TEXT
        values = st.tuples(st.none() | TEXT, st.none() | st.integers(-2**63, 2**63 - 1), st.none() | st.booleans(),
                           st.none() | st.recursive(json_leaves, lambda inner: st.lists(inner, max_size=3)
                                                    | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8),
                           st.none() | st.lists(st.none() | TEXT, max_size=3))

        examples: list = []

        @hypothesis_settings(max_examples=150, deadline=None, database=None)
        @given(values)
        def collect(drawn) -> None:
            examples.append(list(drawn))

        collect()
        examples += [[HOSTILE, 0, True, {"a": [1, "x\"y", None]}, [HOSTILE, None]], [None] * 5, ["x" * 20000] + [None] * 4]
        for example in examples:
            await compare(example)

        # The aggregate: items in order, only those meeting the condition, `[]` for none.
        rows = "(VALUES (1, 'a'), (2, NULL), (3, 'c\"')) AS r(n, v)"
        for condition, expected in (("r.n >= 1", ["c\"", None, "a"]), ("r.n > 1", ["c\"", None]), ("false", [])):
            aggregate = json_array_agg(json_object([("v", json_value(literal_column("r.v")))]),
                                       literal_column("r.n DESC"), literal_column(condition))
            got = await connection.fetchval(_compile(aggregate) + f" FROM {rows}")
            assert json.loads(got) == [{"v": v} for v in expected], got
        # A constant with a colon before a letter is split: pgbench reads `:name` as a variable.
        written = _compile(json_object([("a", Const("true")), ("b", const_of("x:y"))]))
        assert ":t" not in written and ":y" not in written, written
        assert json.loads(await connection.fetchval(written)) == {"a": True, "b": "x:y"}


def _declared_columns(type_name: str) -> tuple[set[str], set[str]]:
    """(nullable columns a nullable declared field of the type reads, columns of its
    declared String fields), from schema/fields.py's declarations."""
    table = NODE_LOADERS[type_name].model.__table__
    nullable, strings = set(), set()
    for field in GRAPHQL.get_type(type_name).fields.values():
        source = declared_source(field.extensions.get("strawberry-definition"))
        if isinstance(source, ColumnSource):
            read = [source.name]
        elif isinstance(source, GlobalId):
            read = [source.column]
        elif isinstance(source, ToOne):
            read = [source.foreign_key]
        elif isinstance(source, MoneyOf):
            read = [source.amount, source.currency] if isinstance(source.amount, str) else [source.currency]
        else:
            continue
        for name in read:
            column = table.c.get(name)
            if column is None:
                continue
            if column.nullable and not isinstance(field.type, GraphQLNonNull):
                nullable.add(name)
            named = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
            if isinstance(source, ColumnSource) and isinstance(named, GraphQLScalarType) and named.name == "String" \
                    and isinstance(column.type, String):
                strings.add(name)
    return nullable, strings


async def _set(database, table, pk: int, column: str, values: list) -> bool:
    """Sets the column of one row to the first value its constraints accept."""
    for value in values:
        async with database.session() as session:
            try:
                async with session.begin_nested():
                    await session.execute(update(table).where(table.c.id == pk).values({column: value}))
            except DBAPIError:
                continue
            await session.commit()
            return True
    return False


async def test_nulls_and_hostile_text_in_every_declared_column_agree(agreement, data, database):
    principal = ADMIN
    id_for = id_for_factory(data["ids"], data["segment"], data["world"]["a"]["account"])
    changed: dict[str, list[str]] = {}
    for type_name in NODE_TYPE_NAMES:
        if type_name not in NODE_LOADERS or not data["ids"].get(type_name):
            continue
        table = NODE_LOADERS[type_name].model.__table__
        nullable, strings = _declared_columns(type_name)
        first, *rest = [pk_of(node_id) for node_id in data["ids"][type_name]]
        for column in sorted(nullable):
            if await _set(database, table, first, column, [None]):
                changed.setdefault(type_name, []).append(f"{column}=NULL")
        for column in sorted(strings):
            if await _set(database, table, rest[0] if rest else first, column,
                          [HOSTILE * 200, HOSTILE, HOSTILE[:20], "é\"\\\n"]):
                changed.setdefault(type_name, []).append(f"{column}=hostile")
    # The test must be able to fail: NULLs and hostile text really are in the data.
    assert sum(c.endswith("=NULL") for cs in changed.values() for c in cs) >= 10, changed
    assert sum(c.endswith("=hostile") for cs in changed.values() for c in cs) >= 5, changed
    for name in ROOT_LISTS:
        path, body = await agreement.compare(root_list_query(name, principal.role, id_for), None, principal, name)
        assert not body.get("errors"), (name, body["errors"])
        assert path == "sql" or not single_statement_expected(name), (name, path)
    for type_name in changed:
        for node_id in data["ids"][type_name]:
            label = f"node {type_name}"
            path, body = await agreement.compare(node_query(type_name, principal.role, id_for), {"id": node_id},
                                                 principal, label)
            assert not body.get("errors"), (label, body["errors"])
            assert body["data"]["node"] is not None, label
            assert path == "sql" or not single_statement_expected(label), (label, path)
    agreement.check("NULLs and hostile text")


SHAPES = [
    "{ customers { totalCount } }",
    "{ customers { pageInfo { hasNextPage hasPreviousPage startCursor endCursor __typename } } }",
    "{ customers(first: 2) { edges { cursor } } }",
    "{ customers(last: 2) { edges { cursor node { id name } } pageInfo { hasNextPage hasPreviousPage endCursor } } }",
    "{ customers(filter: {name: {eq: \"no such name\"}}) { totalCount edges { node { id } } "
    "pageInfo { startCursor endCursor hasNextPage } } }",
    "{ __typename a: customers(first: 1) { __typename edges { __typename node { __typename id } } } "
    "b: customers(last: 1) { totalCount edges { n: node { i: id nm: name } c: cursor } } }",
    "{ orders(first: 3) { edges { node { id total { amount currency __typename } customer { __typename id name } } } } }",
    "{ customers(first: 3) { edges { node { id orders(first: 1) { totalCount edges { node { id } } } "
    "contacts(first: 0) { totalCount edges { node { id } } pageInfo { startCursor endCursor } } } } } }",
]


async def test_shapes_the_builders_write_differently_agree(agreement, data):
    for query in SHAPES:
        _, body = await agreement.compare(query, None, ADMIN, query)
    missing = gid("Customer", 10**12)
    await agreement.compare("query($id: ID!) { node(id: $id) { __typename id } customer(id: $id) { id } }",
                            {"id": missing}, ADMIN, "unknown id")
    agreement.check("shapes")
