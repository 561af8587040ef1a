"""The standard introspection query, as GraphiQL and code generators send it, describes
exactly the schema of schema.graphql: every type, and every default a client may rely on."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import (
    build_client_schema, build_schema, coerce_input_literal, get_introspection_query, lexicographic_sort_schema,
    print_ast, print_schema,
)
from graphql.utilities import get_default_value_ast

from schema.root import schema
from schema.defaults import input_values
from tests.conftest import TEST_SECRET_KEY, fresh_database
from tests.process import Server, crm_env, run_crm

ROOT = Path(__file__).resolve().parent.parent
# Every option graphql-core has: what GraphiQL and the code generators ask for.
EVERY_OPTION = dict(descriptions=True, specified_by_url=True, directive_is_repeatable=True, schema_description=True,
                    input_value_deprecation=True)


def _sorted_sdl(graphql_schema) -> str:
    return print_schema(lexicographic_sort_schema(graphql_schema))


async def test_every_input_default_survives_introspection(post_graphql):
    result = await post_graphql(get_introspection_query(**EVERY_OPTION), as_=None)
    assert result.status == 200 and not result.errors, result.errors
    client_schema = build_client_schema(result.data)
    client_values = dict(input_values(client_schema))

    defaults = 0
    for coordinate, served in input_values(schema._schema):
        served_default = get_default_value_ast(served)
        introspected = client_values[coordinate]
        if served_default is None:
            assert get_default_value_ast(introspected) is None, coordinate
            continue
        defaults += 1
        literal = get_default_value_ast(introspected)
        assert literal is not None, f"{coordinate}: the default is lost"
        assert print_ast(literal) == print_ast(served_default), coordinate
        # What a client reads back is what the server fills in when the client leaves it out.
        coerced = coerce_input_literal(literal, served.type)
        assert coerced == coerce_input_literal(served_default, served.type), coordinate
    assert defaults > 100  # the walk saw the schema's defaults, not nothing
    attributes = client_values["CustomerCreateInput.attributes"]
    assert print_ast(get_default_value_ast(attributes)).replace(" ", "") == "{}"


async def test_the_json_default_still_fills_in(post_graphql):
    result = await post_graphql("""mutation { customerCreate(input: {name: "Plain"}, allowDuplicate: true) {
        customer { attributes } errors { code } } }""")
    assert not result.errors, result.errors
    assert result.data["customerCreate"] == {"customer": {"attributes": {}}, "errors": []}


@pytest.fixture
def introspectable_server(postgres_server_url, tmp_path):
    """`crm serve` as deployed, with introspection on (it is off by default outside demo mode)."""
    with fresh_database(postgres_server_url) as url:
        assert run_crm("migrate", env=crm_env(DATABASE_URL=url)).returncode == 0
        server = Server(tmp_path / "introspection.log",
                        crm_env(DATABASE_URL=url, CRM_SECRET_KEY=TEST_SECRET_KEY, CRM_INTROSPECTION="1"))
        try:
            server.wait_ready()
            yield server
        finally:
            assert server.stop() == 0, server.output()


async def test_a_client_library_fetches_the_schema_over_http_and_it_is_schema_graphql(introspectable_server):
    from gql import Client, gql
    from gql.transport.httpx import HTTPXAsyncTransport

    from tests.conftest import ADMIN, token_for

    transport = HTTPXAsyncTransport(url=f"{introspectable_server.base}/graphql",
                                    headers={"Authorization": f"Bearer {token_for(ADMIN)}"})
    client = Client(transport=transport, fetch_schema_from_transport=True, introspection_args=EVERY_OPTION)
    async with client as session:
        # gql checks documents against the schema it fetched before it sends them.
        answer = await session.execute(gql("{ customers(first: 1) { totalCount } }"))
    assert answer == {"customers": {"totalCount": 0}}

    committed = build_schema((ROOT / "schema.graphql").read_text())
    assert _sorted_sdl(client.schema) == _sorted_sdl(committed)
    assert client.schema.description == committed.description
