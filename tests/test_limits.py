"""Abusive requests get a clear error code, change nothing, and the server keeps serving."""

from __future__ import annotations

import pytest

from core.settings import Settings
from tests.conftest import ADMIN, TEST_SECRET_KEY, token_for

NORMAL = "{ customers(first: 5) { totalCount } }"


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(ADMIN)}"}


async def post(client, query: str, **extra):
    return await client.post("/graphql", json={"query": query, **extra}, headers=auth())


async def assert_still_serving(client) -> None:
    response = await post(client, NORMAL)
    assert response.status_code == 200 and response.json() == {"data": {"customers": {"totalCount": 0}}}


def nested(depth: int) -> str:
    inner = "id"
    for _ in range(depth):
        inner = f"customer {{ {inner} }}"
    # customer -> opportunities -> customer -> ... : a real path through the schema
    query = "id"
    for _ in range(depth):
        query = f"opportunities(first: 1) {{ edges {{ node {{ customer {{ {query} }} }} }} }}"
    return "{ customers(first: 1) { edges { node { " + query + " } } } }"


CASES = {
    "depth 50": ({"query": nested(50)}, 200, "QUERY_TOO_DEEP"),  # stopped by the parser
    "depth 20": ({"query": nested(4)}, 200, "QUERY_TOO_DEEP"),  # parsed, stopped by the limit rule
    "1000 aliases": ({"query": "{ " + " ".join(f"a{i}: __typename" for i in range(1000)) + " }"},
                     200, "TOO_MANY_ALIASES"),
    "first 100000": ({"query": "{ customers(first: 100000) { edges { node { id } } } }"}, 200, "QUERY_TOO_COMPLEX"),
    "nested pages": ({"query": "{ customers(first: 100) { edges { node { orders(first: 100) { edges { node { "
                               "lines { id quantity } customer { contacts(first: 100) { edges { node { id } } } } } } } } } } }"},
                     200, "QUERY_TOO_COMPLEX"),
    "fragment cycle": ({"query": "query { customers(first: 1) { ...A } } "
                                 "fragment A on CustomerConnection { edges { node { ...B } } } "
                                 "fragment B on Customer { referredCustomers(first: 1) { ...A } }"},
                       200, "GRAPHQL_VALIDATION_FAILED"),
    "deep fragment nesting": ({"query": "{ customers(first: 1) { ...F0 } } " + " ".join(
        f"fragment F{i} on CustomerConnection {{ edges {{ node {{ referredCustomers(first: 1) {{ ...F{i + 1} }} }} }} }}"
        for i in range(40)) + " fragment F40 on CustomerConnection { totalCount }"}, 200, "QUERY_TOO_DEEP"),
    "long list literal": ({"query": "{ customers(filter: {classification: {in: [" + ", ".join(["CUSTOMER"] * 101)
                                    + "]}}) { totalCount } }"}, 200, "LIST_TOO_LONG"),
    "tokens": ({"query": "{ " + " ".join(["__typename"] * 12_000) + " }"}, 200, "TOO_MANY_TOKENS"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
async def test_abusive_requests_are_refused_with_a_code(client, case):
    body, status, code = CASES[case]
    response = await client.post("/graphql", json=body, headers=auth())
    assert response.status_code == status, response.text[:300]
    errors = response.json()["errors"]
    assert code in [e["extensions"]["code"] for e in errors]
    assert response.json().get("data") is None
    await assert_still_serving(client)


async def test_a_ten_megabyte_body_is_refused(client):
    payload = '{"query": "{ customers { totalCount } }", "variables": {"x": "' + "y" * (10 * 1024 * 1024) + '"}}'
    response = await client.post("/graphql", content=payload, headers={**auth(), "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "BODY_TOO_LARGE"
    await assert_still_serving(client)


async def test_a_body_without_length_is_counted_as_it_arrives(client):
    async def chunks():
        for _ in range(20):
            yield b"x" * 100_000

    response = await client.post("/graphql", content=chunks(), headers={**auth(), "Content-Type": "application/json"})
    assert response.status_code == 413
    await assert_still_serving(client)


async def test_realistic_screens_are_within_the_limits(client):
    # the statement-count screens at page size 100 must stay allowed
    from tests.test_statement_counts import CUSTOMER_DETAIL, CUSTOMER_LIST, PIPELINE

    for query, variables in ((CUSTOMER_LIST, {"n": 100}), (PIPELINE, {"n": 100}),
                             (CUSTOMER_DETAIL, {"id": "Q3VzdG9tZXI6MQ==", "n": 100})):
        response = await post(client, query, variables=variables)
        assert "errors" not in response.json(), response.json()


async def test_security_headers(client):
    response = await post(client, NORMAL)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert response.headers["cache-control"] == "no-store"
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert "content-security-policy" not in page.headers  # GraphiQL loads its scripts


async def app_client(database, **settings):
    import httpx

    from server import create_app

    app = create_app(Settings(secret_key=TEST_SECRET_KEY, **settings), database=database)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_introspection_and_graphiql_off_when_configured(database):
    async with await app_client(database, introspection=False, graphiql=True) as client:
        response = await post(client, "{ __schema { types { name } } }")
        assert response.json()["data"] is None
        assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert (await client.get("/graphql", headers={"Accept": "text/html"})).status_code == 404
        await assert_still_serving(client)


async def test_cors_for_configured_origins_only(database):
    async with await app_client(database, cors_origins=("https://app.example.com",)) as client:
        preflight = await client.options("/graphql", headers={
            "Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
        other = await client.options("/graphql", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize("depth", [40, 900, 5000, 100_000])
async def test_deeply_nested_json_is_a_bad_request(client, depth):
    body = '{"query": "{ __typename }", "variables": {"x": ' + "[" * depth + "]" * depth + "}}"
    response = await client.post("/graphql", content=body, headers={**auth(), "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    await assert_still_serving(client)
