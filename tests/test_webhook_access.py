"""Who may register what, and where: the SSRF rules on endpoint URLs, hostile input, and
partners kept apart (a partner's endpoint receives its own account's events only; a
partner cannot reach another's endpoints or deliveries)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from tests.conftest import ADMIN, GraphQLResult, token_for
from tests.event_helpers import poster
from tests.helpers import gid
from tests.webhook_helpers import CREATE, private_allowed_settings

REFUSED = ["http://127.0.0.1/hook", "http://127.1.2.3:8080/", "http://10.0.0.5/hook", "http://192.168.1.1/",
           "http://172.16.0.1/", "http://169.254.169.254/latest/meta-data", "http://[::1]/hook",
           "http://[::ffff:127.0.0.1]/", "http://[fe80::1]/", "http://localhost:9000/hook", "http://0.0.0.0/",
           "http://100.64.0.1/",
           # IPv4 inside IPv6 (compatible, NAT64, 6to4) and reserved ranges
           "http://[::127.0.0.1]/", "http://[::7f00:1]/", "http://[64:ff9b::7f00:1]/", "http://[64:ff9b::a9fe:a9fe]/",
           "http://[2002:7f00:1::]/", "http://[2002:a9fe:a9fe::]/", "http://240.0.0.1/"]


async def _raw(client, query: str, variables: dict) -> GraphQLResult:
    """As a client sends it, with lone surrogates escaped in the JSON (\\ud800), as JSON allows."""
    response = await client.post("/graphql", content=json.dumps({"query": query, "variables": variables}),
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {token_for(ADMIN)}"})
    return GraphQLResult(response.status_code, response.json(), response.headers)


def _names(extensions: dict, argument: str) -> bool:
    """The error names the argument: ours (`argument`), or the scalar's (`variable`) for
    text that is not text (NUL, lone surrogates)."""
    return extensions.get("argument") == argument or extensions.get("variable") == "i"


async def _count(database) -> int:
    async with database.session() as session:
        return (await session.execute(text("SELECT count(*) FROM webhook_endpoint"))).scalar_one()


@pytest.mark.parametrize("url", REFUSED)
async def test_private_destinations_are_refused_by_default(post_graphql, database, url):
    result = await post_graphql(CREATE, {"i": {"url": url}})
    assert result.error_codes == ["BAD_USER_INPUT"], result.body
    assert result.errors[0]["extensions"]["argument"] == "input.url"
    assert "loopback, link-local or private" in result.errors[0]["message"]
    assert await _count(database) == 0


HOSTILE = {
    "a NUL byte": "http://exa\u0000mple.com/", "a lone surrogate": "http://ex\ud800ample.com/",
    "a huge length": "https://example.com/" + "a" * 100_000, "another scheme": "ftp://example.com/",
    "a file": "file:///etc/passwd", "no host": "http:///hook", "credentials": "https://user:pw@example.com/",
    "a space": "https://exa mple.com/", "a bad port": "http://example.com:99999/", "nothing": "",
    "javascript": "javascript:alert(1)", "a newline": "https://example.com/\r\nX-Injected: 1",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_hostile_urls_are_typed_errors_and_write_nothing(client, database, case):
    result = await _raw(client, CREATE, {"i": {"url": HOSTILE[case]}})
    assert result.status == 200 and result.error_codes == ["BAD_USER_INPUT"], result.body
    assert _names(result.errors[0]["extensions"], "input.url")
    assert len(result.errors[0]["message"]) < 400
    assert await _count(database) == 0


@pytest.mark.parametrize("types", [["nope"], ["order.placed", "order.nope"], ["\u0000"], ["x" * 10_000], ["\ud800"],
                                   ["webhook.ping"]])
async def test_unknown_event_types_are_refused(client, database, types):
    result = await _raw(client, CREATE, {"i": {"url": "https://hooks.example.com/", "eventTypes": types}})
    assert result.error_codes == ["BAD_USER_INPUT"], result.body
    assert _names(result.errors[0]["extensions"], "input.eventTypes")
    assert await _count(database) == 0


UPDATE = """mutation($id: ID!, $i: WebhookEndpointUpdateInput!) { webhookEndpointUpdate(id: $id, input: $i) {
  endpoint { id url } errors { field code } } }"""


@pytest.mark.parametrize("bad", ["not-an-id", gid("Customer", 1), gid("WebhookEndpoint", 987654321), "\ud800", "x" * 5000])
async def test_bad_ids_are_payload_errors(client, database, bad):
    result = await _raw(client, UPDATE, {"id": bad, "i": {"active": False}})
    if bad == "\ud800":  # not text at all: the scalar refuses it before the mutation runs
        assert result.error_codes == ["BAD_USER_INPUT"], result.body
        return
    assert not result.errors, result.body
    codes = [e["code"] for e in result.data["webhookEndpointUpdate"]["errors"]]
    assert codes == (["NOT_FOUND"] if bad == gid("WebhookEndpoint", 987654321) else ["INVALID"]), (bad, codes)


async def test_the_setting_allows_private_destinations(client, database):
    from server import create_app
    import httpx

    app = create_app(private_allowed_settings(), database=database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as allowed:
        post = poster(allowed, as_=ADMIN)
        for url in ("http://127.0.0.1:9/hook", "http://10.0.0.5/hook", "http://[::1]:9/", "http://localhost:9/"):
            result = await post(CREATE, {"i": {"url": url}})
            assert not result.errors and result.data["webhookEndpointCreate"]["errors"] == [], result.body
        # The form rules still hold.
        assert (await post(CREATE, {"i": {"url": "ftp://127.0.0.1/"}})).error_codes == ["BAD_USER_INPUT"]
    assert await _count(database) == 4


async def test_an_owner_has_at_most_twenty_endpoints(post_graphql, database):
    from events.endpoints import MAX_ENDPOINTS

    for n in range(MAX_ENDPOINTS):
        result = await post_graphql(CREATE, {"i": {"url": f"https://1.1.1.1/hooks/{n}"}})
        assert result.data["webhookEndpointCreate"]["errors"] == [], result.body
    refused = await post_graphql(CREATE, {"i": {"url": "https://1.1.1.1/hooks/one-more"}})
    assert refused.data["webhookEndpointCreate"] == {"endpoint": None, "secret": None, "errors": [
        {"field": None, "code": "TOO_MANY", "message": f"At most {MAX_ENDPOINTS} endpoints; delete one first."}]}
    assert await _count(database) == MAX_ENDPOINTS


LOG_SCREEN = """query { webhookEndpoints(first: N) { totalCount edges { node { id url active
  deliveries(first: N) { totalCount edges { node { id status attempts lastStatusCode event { id type }
    attemptLog { attempt statusCode latencyMs error } } } } } } } }"""


@pytest.mark.parametrize("size", [2, 6])
async def test_the_delivery_log_screen_costs_the_same_at_every_page_size(post_graphql, database, count_statements,
                                                                         size):
    from events.catalogue import CATALOGUE  # noqa: F401 - the event rows below are of a declared type

    async with database.session() as session, session.begin():
        for n in range(8):
            await session.execute(text("""INSERT INTO webhook_endpoint (url, secret, position)
                VALUES (:u, 'whsec_AAAA', 0)"""), {"u": f"https://1.1.1.1/{n}"})
        await session.execute(text("""INSERT INTO event (type, version, occurred_at, aggregate_type, aggregate_id, sequence,
            payload) SELECT 'order.cancelled', 1, now(), 'Order', i, 1, '{}' FROM generate_series(1, 8) i"""))
        await session.execute(text("""INSERT INTO webhook_delivery (endpoint_id, event_id, attempts)
            SELECT w.id, e.id, 2 FROM webhook_endpoint w, event e"""))
        await session.execute(text("""INSERT INTO webhook_attempt (delivery_id, attempt, attempted_at, status_code,
            latency_ms) SELECT d.id, k, now(), 500, 3 FROM webhook_delivery d, generate_series(1, 2) k"""))
    async with count_statements() as log:
        result = await post_graphql(LOG_SCREEN.replace("N", str(size)))
    assert not result.errors, result.body
    edges = result.data["webhookEndpoints"]["edges"]
    assert len(edges) == size and result.data["webhookEndpoints"]["totalCount"] == 8
    assert all(len(e["node"]["deliveries"]["edges"]) == size for e in edges)
    assert all(len(d["node"]["attemptLog"]) == 2 for e in edges for d in e["node"]["deliveries"]["edges"])
    # endpoints page, COUNT(endpoints), delivery pages (LATERAL), delivery counts, events, attempt logs
    assert len(log) == 6, log.statements
