"""One declaration per field (schema/fields.py), and the fast path that reads only them.

- Static: every field that carries a declaration still has the resolver generated from
  it, so no SQL form can bypass a hand-written resolver; and every field of a row-backed
  type either is declared or has a resolver of its own (no value copied in `from_row`).
- The experiment an outside review ran against batch 1: `Customer.email` made into a
  resolver that hides the email from partners, the natural Strawberry way. Batch 1's
  single statement went on reading the column and answered the raw email; here the
  static check names the field, and both paths answer null.
- The screens of the README and of the benchmark, plain and as relay-compiler or
  Apollo write them (named fragments, `__typename` everywhere), are one statement.
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from pathlib import Path

import pytest
from strawberry.types import Info
from strawberry.types.fields.resolver import StrawberryResolver

from bench import scenarios
from core.demo import demo_partner, seed_demo_data
from crm.auth import Principal, Role
from schema.root import schema
from schema.customers import CustomerType
from schema.fields import SOURCE, declared_source
from tests.conftest import ADMIN
from tests.test_compiled import _post, engine_of, plain_client  # noqa: F401 (fixture)

GRAPHQL = schema._schema
BACKREF = "strawberry-definition"
README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def bypassed_declarations() -> list[tuple[str, str]]:
    """(type, field) of every declared field whose resolver is no longer the generated one."""
    found = []
    for graphql_type in GRAPHQL.type_map.values():
        for name, graphql_field in (getattr(graphql_type, "fields", None) or {}).items():
            strawberry_field = (getattr(graphql_field, "extensions", None) or {}).get(BACKREF)
            if strawberry_field is None or SOURCE not in (strawberry_field.metadata or {}):
                continue
            if declared_source(strawberry_field) is None:
                found.append((graphql_type.name, name))
    return found


def copied_fields() -> list[tuple[str, str]]:
    """(type, field) of fields of row-backed types (holding `_row`, or with a `from_row` of their own)
    that are plain attributes: a value some constructor copies, which no declaration
    describes."""
    found = []
    for graphql_type in GRAPHQL.type_map.values():
        definition = (getattr(graphql_type, "extensions", None) or {}).get(BACKREF)
        origin = getattr(definition, "origin", None)
        if origin is None or not ("from_row" in vars(origin) or "_row" in getattr(origin, "__annotations__", {})):
            continue
        for name, graphql_field in graphql_type.fields.items():
            strawberry_field = graphql_field.extensions[BACKREF]
            if strawberry_field.base_resolver is None:
                found.append((graphql_type.name, name))
    return found


def test_no_declared_field_is_bypassed_by_a_hand_written_resolver():
    assert bypassed_declarations() == []


def test_row_backed_types_take_every_field_from_a_declaration_or_a_resolver():
    assert copied_fields() == []


def test_the_customer_list_and_detail_are_declared_through():
    """Guards the test above against passing on nothing: the hot types are declared."""
    for type_name, fields in {"Customer": {"id", "name", "email", "owner", "orders", "contacts"},
                              "Order": {"id", "status", "total", "netTotal", "customer"},
                              "Opportunity": {"amount", "weightedAmount", "stage", "owner"}}.items():
        graphql_type = GRAPHQL.get_type(type_name)
        declared = {name for name, f in graphql_type.fields.items() if declared_source(f.extensions[BACKREF])}
        assert fields <= declared, (type_name, fields - declared)


@contextmanager
def email_hidden_from_partners():
    """Batch 1's experiment: Customer.email becomes a hand-written resolver, its
    declaration left in place."""
    field = next(f for f in CustomerType.__strawberry_definition__.fields if f.python_name == "email")
    generated = field.base_resolver

    def email(self, info: Info) -> str | None:
        return None if info.context.principal.role == Role.PARTNER else self._row.email

    field.base_resolver = StrawberryResolver(email)
    try:
        yield
    finally:
        field.base_resolver = generated


async def test_the_email_experiment_is_caught_and_both_paths_hide_the_email(app, client, plain_client, database):
    await seed_demo_data(database)
    user_id, account_id = await demo_partner(database)
    nora = Principal(subject="nora@northwind.example", role=Role.PARTNER, account_id=account_id, user_id=user_id)
    engine = engine_of(app)
    query = "{ customers(first: 5) { edges { node { id name email } } } }"
    with email_hidden_from_partners():
        assert bypassed_declarations() == [("Customer", "email")]
        expected = await _post(plain_client, query, None, nora)
        await _post(client, query, None, nora)  # learnt
        before = engine.paths["sql"]
        answered = await _post(client, query, None, nora)
        assert engine.paths["sql"] == before + 1  # still one statement, the email resolved in Python
        assert json.dumps(answered) == json.dumps(expected)
        emails = [edge["node"]["email"] for edge in answered[1]["data"]["customers"]["edges"]]
        assert emails and all(email is None for email in emails), answered
        # Staff still read it, on both paths.
        staff = await _post(client, query, None, ADMIN)
        assert any(edge["node"]["email"] for edge in staff[1]["data"]["customers"]["edges"])
    assert bypassed_declarations() == []


README_SCREENS = [q for q in re.findall(r"```graphql\n(.*?)```", README, re.S)
                  if re.match(r"\s*query Customer(List|Detail)", q)]


async def test_the_readme_and_benchmark_screens_are_one_statement_plain_and_with_fragments(
        app, client, plain_client, database, count_statements):
    await seed_demo_data(database)
    engine = engine_of(app)
    customers = (await _post(client, "{ customers(first: 3) { edges { node { id } } } }", None, ADMIN))[1]
    customer = customers["data"]["customers"]["edges"][0]["node"]["id"]
    screens = [(query, {"id": customer} if "$id" in query else {}) for query in README_SCREENS]
    screens += [(scenarios.CUSTOMER_LIST, {}), (scenarios.CUSTOMER_LIST_FRAGMENTS, {}),
                (scenarios.CUSTOMER_DETAIL, {"id": customer}), (scenarios.CUSTOMER_DETAIL_FRAGMENTS, {"id": customer})]
    assert len(screens) == 6
    for query, variables in screens:
        expected = await _post(plain_client, query, variables, ADMIN)
        await _post(client, query, variables, ADMIN)  # learnt
        before = engine.paths["sql"]
        async with count_statements() as statements:
            answered = await _post(client, query, variables, ADMIN)
        assert engine.paths["sql"] == before + 1, query
        assert json.dumps(answered) == json.dumps(expected), query
        if "timeline" not in query:
            assert len(statements) == 1, (query, statements.statements)
        else:
            # The README's detail page has three fields without a SQL form, resolved in
            # Python after the statement: contactable(by:) (an argument), the timeline
            # (a union) and an order's lines (a list without pages). Their rows load by id
            # in one batch per type: the statement; the customer's and the orders' rows;
            # the timeline, its activities, orders and stage changes; the lines with
            # their products.
            assert len(statements) <= 9, (query, statements.statements)


async def test_the_python_fields_rows_read_as_the_orm_reads_them(app, client, database, post_graphql):
    """engine/sql/answer.RowsById reads a Python field's row without the ORM: every mapped
    attribute of every row-backed type equals what the by-id loader's ORM row holds."""
    from types import SimpleNamespace

    from sqlalchemy import inspect as mapping_of, select

    from engine.sql.answer import ROWS
    from engine.sql.plan import table_of
    from resolvers.ids import NODE_LOADERS
    from tests.test_tenant_walk import world  # noqa: F401 (builds data of every type)

    await seed_demo_data(database)
    checked = 0
    for type_name, loader in sorted(NODE_LOADERS.items()):
        if table_of(type_name) is None:
            continue
        async with database.read_session() as session:
            orm_rows = (await session.execute(select(loader.model).limit(20))).scalars().all()
        if not orm_rows:
            continue
        context = SimpleNamespace(database=database, principal=ADMIN)
        fast = await ROWS.load(context, type_name, {row.id for row in orm_rows})
        for row in orm_rows:
            for attribute in mapping_of(loader.model).column_attrs:
                expected, got = getattr(row, attribute.key), getattr(fast[row.id], attribute.key)
                assert (got, type(got)) == (expected, type(expected)), (type_name, attribute.key)
        checked += 1
    assert checked >= 8, checked


@pytest.mark.parametrize("time_zone", ["UTC", "Asia/Kathmandu", "America/St_Johns"])
async def test_carried_rows_decode_as_the_orm_reads_them(app, client, database, post_graphql, time_zone):
    """engine/sql/carry.py writes a Python field's row into the statement as JSON: every
    column it would carry, of every row-backed type, decodes to exactly what the ORM row
    holds (value, type, text), whatever the session's time zone, hostile values included."""
    from sqlalchemy import inspect as mapping_of, select, text

    from engine.sql.carry import decode_carried, carried_sql, type_columns
    from engine.sql.plan import table_of
    from resolvers.ids import NODE_LOADERS

    await seed_demo_data(database)
    async with database.session() as session:
        await session.execute(text(
            "UPDATE customer SET name = E'Ünïcødé \"q\" \\\\ back\\\\slash \U0001F600', "
            "attributes = '{\"a\": 1.50, \"b\": [1e3, \"x\\\"y\", -0.0], \"c\": null, \"d\": 12345678901234567890}', "
            "tags = ARRAY['a\"b', 'ü', 'x,y'], created_at = '1901-03-04 05:06:07.000008+00', "
            "archived_at = '2024-02-29 23:59:59.999999+00' WHERE id = (SELECT min(id) FROM customer)"))
        await session.commit()
    decoded: dict[str, tuple[tuple[str, ...], dict]] = {}
    async with database.driver_connection() as connection:
        await connection.execute(f"SET TIME ZONE '{time_zone}'")
        try:
            for type_name in sorted(NODE_LOADERS):
                if table_of(type_name) is None:
                    continue
                columns = type_columns(type_name)
                names = ("id", *sorted(n for n, c in columns.conversions.items() if c is not None and n != "id"))
                records = await connection.fetch(
                    f'SELECT CAST({carried_sql(type_name, 0, "r", names)} AS TEXT) '
                    f'FROM "{NODE_LOADERS[type_name].model.__table__.name}" AS r ORDER BY r.id LIMIT 20')
                rows = {}
                for (array,) in records:
                    marker, *values = json.loads(array)
                    assert marker == "\u0000F0"
                    row = decode_carried(type_name, names, values)
                    rows[row.id] = row
                if rows:
                    decoded[type_name] = (names, rows)
        finally:
            await connection.execute("RESET TIME ZONE")
    for type_name, (names, rows) in decoded.items():
        model = NODE_LOADERS[type_name].model
        async with database.read_session() as session:
            orm_rows = (await session.execute(select(model).where(model.id.in_(list(rows))))).scalars().all()
        assert len(orm_rows) == len(rows)
        for row in orm_rows:
            for attribute in mapping_of(model).column_attrs:
                if attribute.key in names:
                    expected, got = getattr(row, attribute.key), getattr(rows[row.id], attribute.key)
                    assert (got, type(got), repr(got)) == (expected, type(expected), repr(expected)), \
                        (type_name, attribute.key)
    assert len(decoded) >= 8, sorted(decoded)


def test_the_python_fields_values_are_written_as_json_dumps_writes_them():
    """engine/internals.json_text writes a Python field's value into the answer without
    building an encoder per value: byte for byte what json.dumps(ensure_ascii=False)
    writes, for any JSON value (hostile strings included)."""
    from hypothesis import given, settings, strategies as st

    from engine.internals import json_text

    leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | \
        st.text(alphabet=st.characters(codec=None, categories=None))
    values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                          max_leaves=20)

    @settings(max_examples=300, deadline=None)
    @given(values)
    def same(value):
        assert json_text(value) == json.dumps(value, ensure_ascii=False)

    same()
