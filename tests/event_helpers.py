"""Reading the event feed as a client does, and checking every event read against its
type's JSON Schema (events.catalogue.json_schema): every test that reads events reads
them through `feed`, so every emitted event of the suite is validated."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import pytest

from jsonschema import Draft202012Validator, FormatChecker

from events import catalogue
from events.catalogue import CATALOGUE, Ref, json_schema
from tests.conftest import GraphQLResult, token_for

FEED = """query($after: String, $types: [String!], $first: Int) { events(after: $after, types: $types, first: $first) {
  events { id type version occurredAt recordedAt aggregateId sequence data } endCursor hasNextPage } }"""


def validate(event: dict[str, Any]) -> None:
    """Raises when the event is not what its type's published schema says."""
    assert event["type"] in CATALOGUE, event
    Draft202012Validator(json_schema(CATALOGUE[event["type"]]), format_checker=FormatChecker()).validate(event)


def poster(client, *, as_=None):
    """post(query, variables) through a client (committed_client), as `as_` (None: the
    client's own credentials, an admin)."""

    async def post(query: str, variables: dict[str, Any] | None = None, *, as_principal=as_) -> GraphQLResult:
        headers = {"Authorization": f"Bearer {token_for(as_principal)}"} if as_principal is not None else {}
        response = await client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
        return GraphQLResult(response.status_code, response.json(), response.headers)

    return post


async def feed_page(post, after: str | None = None, types: list[str] | None = None, first: int | None = None) -> dict:
    result = await post(FEED, {"after": after, "types": types, "first": first})
    assert result.status == 200 and not result.errors, result.body
    page = result.data["events"]
    for event in page["events"]:
        validate(event)
    return page


async def feed(post, after: str | None = None, types: list[str] | None = None) -> tuple[list[dict], str | None]:
    """Every event after `after` (all pages), validated, and the cursor to read on from."""
    events: list[dict] = []
    while True:
        page = await feed_page(post, after, types, first=100)
        events += page["events"]
        after = page["endCursor"]
        if not page["hasNextPage"]:
            return events, after


def pk_of(global_id: str) -> int:
    import base64

    return int(base64.b64decode(global_id).decode().split(":")[1])


@pytest.fixture
def pinged():
    """An event type of the test using it, out of the catalogue again afterwards."""

    @catalogue.event("test.pinged", aggregate="Customer")
    class Pinged:
        """A test event."""
        customer: Annotated[int, Ref("Customer")]
        amount: Decimal
        note: str | None = None

    yield Pinged
    del catalogue.CATALOGUE["test.pinged"]
