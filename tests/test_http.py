"""The HTTP surface: status codes and bodies for bad requests, health, logs, masking."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from core.settings import Settings
import schema.common as list_schema
from tests.conftest import ADMIN, TEST_SECRET_KEY, token_for


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(ADMIN)}"}


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        ('{"query": "{ customers { totalCount } }"', "application/json"),  # truncated JSON
        ("not json at all", "application/json"),
        ("", "application/json"),
        ('{"query": "{ customers { totalCount } }"}', "text/plain"),  # wrong content type
        ('{"query": "{ customers { totalCount } }"}', "application/xml"),
        ('{"variables": {}}', "application/json"),  # no query
        ('{"query": ""}', "application/json"),  # empty query
        ('{"query": null}', "application/json"),
        ("[]", "application/json"),
        ('"just a string"', "application/json"),
        ("42", "application/json"),
        ("null", "application/json"),
        ('{"query": "{ customers { totalCount } }", "variables": [1]}', "application/json"),
        ('{"query": "{ customers { totalCount } }", "operationName": 7}', "application/json"),
        ('{"query": 7}', "application/json"),
        ('[{"query": "{ customers { totalCount } }"}]', "application/json"),  # batching is off
        ('{"query": "{ customers { totalCount } }", "x": NaN}', "application/json"),
    ],
)
async def test_bad_requests_get_400_with_a_graphql_shaped_error(client, content, content_type):
    response = await client.post("/graphql", content=content, headers={"Content-Type": content_type, **auth()})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"errors"}
    [error] = body["errors"]
    assert error["message"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]


async def test_syntax_error_is_a_parse_failure(client):
    response = await client.post("/graphql", json={"query": "{ customers { "}, headers=auth())
    assert response.status_code == 200
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["GRAPHQL_PARSE_FAILED"]


async def test_unknown_field_is_a_validation_failure(client):
    response = await client.post("/graphql", json={"query": "{ customers { nope } }"}, headers=auth())
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["GRAPHQL_VALIDATION_FAILED"]


async def test_mutation_over_get_is_refused(client):
    response = await client.get(
        "/graphql", params={"query": 'mutation { customerCreate(input: {name: "X"}) { errors { code } } }'},
        headers=auth(),
    )
    assert response.status_code in (400, 405)
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    count = await client.post("/graphql", json={"query": "{ customers { totalCount } }"}, headers=auth())
    assert count.json() == {"data": {"customers": {"totalCount": 0}}}


async def test_query_over_get_works(client):
    response = await client.get("/graphql", params={"query": "{ customers { totalCount } }"}, headers=auth())
    assert response.status_code == 200
    assert response.json() == {"data": {"customers": {"totalCount": 0}}}


async def test_healthz_and_readyz(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


async def test_graphiql_is_served_on_get_when_enabled(client):
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_graphiql_is_off_when_disabled(database):
    import httpx

    from server import create_app

    app = create_app(Settings(secret_key=TEST_SECRET_KEY, graphiql=False), database=database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert "graphiql" not in response.text.lower()


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer ", "Token abc"],
)
async def test_bad_credentials_are_unauthenticated(client, authorization):
    response = await client.post(
        "/graphql", json={"query": "{ customers { totalCount } }"}, headers={"Authorization": authorization}
    )
    body = response.json()
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


async def test_expired_and_forged_tokens_are_unauthenticated(client):
    from crm.auth import issue_token

    expired = token_for(ADMIN, ttl_seconds=-10)
    forged = issue_token("another-secret-key-of-sufficient-length-xx", ADMIN)
    for token in (expired, forged):
        response = await client.post(
            "/graphql", json={"query": "{ customers { totalCount } }"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["UNAUTHENTICATED"]


async def test_a_token_verified_before_is_refused_once_it_expires(client):
    """Verified tokens are remembered (crm.auth), but never past their expiry."""
    from crm import auth

    token = token_for(ADMIN, ttl_seconds=1)
    query = {"query": "{ customers { totalCount } }"}
    headers = {"Authorization": f"Bearer {token}"}
    assert "errors" not in (await client.post("/graphql", json=query, headers=headers)).json()
    assert token in {t for _, t in auth._verified}
    await asyncio.sleep(2.1)  # exp is in whole seconds
    response = await client.post("/graphql", json=query, headers=headers)
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["UNAUTHENTICATED"]


async def test_unexpected_errors_are_masked_and_logged_with_the_request_id(client, monkeypatch, caplog):
    async def broken(*args, **kwargs):
        raise RuntimeError("secret detail: /etc/passwd SELECT * FROM customer")

    monkeypatch.setattr(list_schema, "page", broken)
    with caplog.at_level(logging.ERROR, logger="crm.graphql"):
        response = await client.post("/graphql", json={"query": "{ customers { edges { node { id } } } }"}, headers=auth())
    assert response.status_code == 200
    text = response.text
    assert "secret detail" not in text and "Traceback" not in text and "passwd" not in text
    [error] = response.json()["errors"]
    request_id = response.headers["x-request-id"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and "secret detail" in str(logged[0].exc_info[1])


async def test_one_log_line_per_request_without_variables(client, caplog):
    query = "query ListCustomers($first: Int) { customers(first: $first) { totalCount } }"
    with caplog.at_level(logging.INFO, logger="crm.request"):
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": {"first": 3}, "operationName": "ListCustomers"},
            headers=auth(),
        )
    lines = [r for r in caplog.records if r.name == "crm.request" and r.getMessage() == "request"]
    assert len(lines) == 1
    line = lines[0]
    assert line.operation == "ListCustomers"
    assert line.status == 200
    assert line.request_id == response.headers["x-request-id"]
    assert isinstance(line.duration_ms, float)
    rendered = json.dumps({k: str(v) for k, v in vars(line).items()})
    assert "Bearer" not in rendered and '"first"' not in rendered and "variables" not in rendered


async def test_json_log_format_is_one_object_per_line():
    from core.logging import JsonFormatter

    record = logging.LogRecord("crm.request", logging.INFO, __file__, 1, "request", (), None)
    record.status = 200
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line)["status"] == 200
