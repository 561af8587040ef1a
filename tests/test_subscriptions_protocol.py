"""The WebSocket side of subscriptions against a real `crm serve`: hostile frames close
with the protocol's codes and hostile documents get typed errors (never a traceback in
the server's log), the request limits apply, a connection closes when its token expires
or its login ends, a browser page of another origin cannot open one; and the hub reads
each new batch of events once, however many subscribers it serves."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from decimal import Decimal

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from crm.auth import Principal, Role
from events.live import Hub
from events.orders import OrderCancelled
from events.outbox import Emission, emit_all
from models import Database
from tests.conftest import ADMIN, token_for
from tests.helpers import new_user, ok
from tests.test_subscriptions import STAFF_EVENTS, live_database, servers  # noqa: F401 (module fixtures)
from tests.ws_helpers import http_poster, session, socket_to

PASSWORD = "correct horse battery staple"


def _codes(message: dict) -> list[str]:
    errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
    return [e["extensions"]["code"] for e in errors]


@pytest.mark.parametrize("frames, code", [
    (["not json"], 4400),
    ([b"\x00\x01binary"], 4400),
    (["[1, 2]"], 4400),
    (["123"], 4400),
    (['{"type": 5}'], 4400),
    (['{"type": "teleport"}'], 4400),
    (['{"type": "connection_init", "payload": {"a": NaN}}'], 4400),
    (["[" * 100_000 + "]" * 100_000], 4400),
    (['{"type": "connection_init", "payload": "me"}'], 4400),
    (["AUTH", '{"type": "subscribe", "id": "1", "payload": "x"}'], 4400),
    (["AUTH", '{"type": "subscribe", "id": 7, "payload": {"query": "subscription { events { id } }"}}'], 4400),
    (["AUTH", '{"type": "subscribe", "id": "1", "payload": {"query": 1}}'], 4400),
    (["AUTH", '{"type": "subscribe", "id": "1", "payload": {"query": "subscription {", "variables": {}}}'], 4400),
    (["AUTH", '{"type": "complete"}'], 4400),
    (["AUTH", "AUTH"], 4429),
])
async def test_hostile_frames_close_with_the_protocols_codes(servers, frames, code):
    async with socket_to(servers[0].base) as ws:
        for frame in frames:
            if frame == "AUTH":
                frame = f'{{"type": "connection_init", "payload": {{"authorization": "Bearer {token_for(ADMIN)}"}}}}'
            await ws.send(frame)
        closed = await ws.closed()
    assert closed.code == code, closed


async def test_a_frame_over_the_body_limit_closes_the_socket(servers):
    async with socket_to(servers[0].base) as ws:
        await ws.send('{"type": "connection_init", "payload": {"x": "' + "x" * 1_100_000 + '"}}')
        assert (await ws.closed()).code == 1009  # message too big (CRM_MAX_BODY_BYTES)


@pytest.mark.parametrize("query, variables, code", [
    ("subscription { events(after: \"not-a-cursor\") { id } }", None, "BAD_USER_INPUT"),
    ("subscription { events(types: [\"x.y\"]) { id } }", None, "BAD_USER_INPUT"),
    ("subscription { events { nope } }", None, "GRAPHQL_VALIDATION_FAILED"),
    ("subscription { events { " + " ".join(f"a{i}: id" for i in range(60)) + " } }", None, "TOO_MANY_ALIASES"),
    ("subscription($t: [String!]) { events(types: $t) { id } }", {"t": ["order.paid"] * 101}, "LIST_TOO_LONG"),
    ("{ me { role } }", None, "BAD_REQUEST"),
    ("mutation { logout { errors { code } } }", None, "BAD_REQUEST"),
])
async def test_hostile_documents_get_typed_errors(servers, query, variables, code):
    async with session(servers[0].base, ADMIN) as ws:
        operation = await ws.subscribe(query, variables)
        message = await ws.final_of(operation)
        assert _codes(message) == [code], message
        # The connection serves on.
        await ws.send({"type": "ping"})
        assert (await ws.receive())["type"] == "pong"


@pytest.mark.parametrize("name", ["Nope", None])
async def test_an_operation_name_that_names_nothing_is_a_bad_request(servers, name):
    document = "subscription A { events { id } } subscription B { events { type } }"
    async with session(servers[0].base, ADMIN) as ws:
        await ws.send({"id": "1", "type": "subscribe", "payload": {"query": document, "operationName": name}})
        message = await ws.final_of("1")
        assert _codes(message) == ["BAD_REQUEST"], message
        await ws.send({"type": "ping"})
        assert (await ws.receive())["type"] == "pong"


@pytest.mark.parametrize("document", ["subscription { events { id } }",
                                      "query Q { me { role } } subscription S { myMembershipChanged { change } }"])
async def test_a_subscription_posted_over_http_is_refused_with_a_code(post_graphql, document):
    result = await post_graphql(document, operation_name="S" if " S " in document else None)
    assert (result.status, result.error_codes, result.data) == (200, ["BAD_REQUEST"], None), result.body
    # The other operation of the document is still served.
    if " Q " in document:
        assert (await post_graphql(document, operation_name="Q")).data == {"me": {"role": "ADMIN"}}


async def test_the_connection_closes_when_its_token_expires(servers):
    async with socket_to(servers[0].base) as ws:
        ack = await ws.init({"authorization": f"Bearer {token_for(ADMIN, ttl_seconds=2)}"})
        assert ack["type"] == "connection_ack"
        await ws.subscribe(STAFF_EVENTS)
        closed = await ws.closed(timeout=30)
    assert closed.code == 4403 and "expired" in closed.reason, closed


async def test_the_connection_closes_when_its_login_ends(servers):
    one, two = servers
    admin = http_poster(one.base, ADMIN)
    user = await new_user(admin, "lena@example.com", "MANAGER")
    await ok(admin, "mutation($id: ID!, $p: String!) { userSetPassword(id: $id, password: $p) { ok errors { code } } }",
             {"id": user, "p": PASSWORD}, "userSetPassword")
    login = await ok(admin, """mutation($e: String!, $p: String!) { login(email: $e, password: $p) {
        accessToken errors { code } } }""", {"e": "lena@example.com", "p": PASSWORD}, "login")
    async with session(one.base, token=login["accessToken"]) as ws:
        await ws.subscribe(STAFF_EVENTS)
        await ws.nothing_for(1.5)  # a live login stays connected past a check
        async with httpx.AsyncClient(base_url=two.base) as client:  # logged out through the other process
            out = await client.post("/graphql", json={"query": "mutation { logout { errors { code } } }"},
                                    headers={"Authorization": f"Bearer {login['accessToken']}"})
        assert out.json()["data"]["logout"]["errors"] == []
        closed = await ws.closed(timeout=30)
    assert closed.code == 4403 and "ended" in closed.reason, closed


async def test_a_page_of_another_origin_cannot_open_a_socket(servers):
    base = servers[0].base
    with pytest.raises(InvalidStatus) as refused:
        async with socket_to(base, origin="http://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    # GraphiQL, served by the same origin, can.
    async with socket_to(base, origin=base) as ws:
        assert (await ws.init({"Authorization": f"Bearer {token_for(ADMIN)}"}))["type"] == "connection_ack"


async def test_the_hub_reads_each_batch_once_whatever_the_number_of_subscribers(committed_database):
    """Twenty subscribers of ten partner accounts: each receives its own account's events
    and nothing else, and the hub read the batch once for all of them."""
    from resolvers.scoping import row_scope, row_visible

    post_accounts = list(range(1, 11))
    now = datetime.now(timezone.utc)
    dsn = committed_database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    hub = Hub(committed_database, dsn, poll_seconds=30)
    received: dict[int, list[int]] = {}

    def principal(account: int) -> Principal:
        return Principal(f"p{account}", Role.PARTNER, account_id=account)

    async def follow(n: int, account: int, ready: asyncio.Event) -> None:
        who = principal(account)
        subscriber = hub.subscribe(after=None, types=None, where=row_scope("Event", who),
                                   accepts=lambda row: row_visible("Event", who, row), on_overflow=lambda: None,
                                   resume=False)
        stream = subscriber.events()
        pending = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0.2)
        ready.set()
        row = await pending
        received[n] = [row.account_id]
        while len(received[n]) < 3:
            received[n].append((await stream.__anext__()).account_id)
        await stream.aclose()

    readies = [asyncio.Event() for _ in range(20)]
    tasks = [asyncio.create_task(follow(n, post_accounts[n % 10], readies[n])) for n in range(20)]
    try:
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 20)
        while hub.reads == 0 or hub._listener is None:  # listening, and its first read done
            await asyncio.sleep(0.05)
        reads_before = hub.reads
        body = OrderCancelled(order=1, customer=1, total=Decimal("1"), currency="CNY", status="cancelled",
                              cancelled_at=now)
        async with committed_database.session() as s:  # 3 events for each account, 10 staff-only: one commit
            await emit_all(s, [Emission(body, aggregate_id=a, occurred_at=now, account_id=a)
                               for a in post_accounts for _ in range(3)]
                           + [Emission(body, aggregate_id=99, occurred_at=now)] * 10)
            await s.commit()
        await asyncio.wait_for(asyncio.gather(*tasks), 20)
        # One page of 40 events answered every subscriber (a page shorter than the batch ends the read).
        assert hub.reads - reads_before == 1
    finally:
        for task in tasks:
            task.cancel()
        await hub.stop()
    assert {n: accounts for n, accounts in received.items()} == {n: [post_accounts[n % 10]] * 3 for n in range(20)}


async def test_the_hub_applies_the_feeds_one_scope_declaration_to_rows_in_memory(database):
    """row_visible (the hub's filter) and row_scope (the feed's SQL) are one declaration:
    they select the same events for every kind of caller."""
    from sqlalchemy import select

    from models import Event, OrderLine
    from resolvers.scoping import row_scope, row_visible

    now = datetime.now(timezone.utc)
    body = OrderCancelled(order=1, customer=1, total=Decimal("1"), currency="CNY", status="cancelled", cancelled_at=now)
    async with database.session() as s:
        await emit_all(s, [Emission(body, aggregate_id=n, occurred_at=now, account_id=account)
                           for n, account in enumerate([1, 2, None, 1])])
        rows = list((await s.execute(select(Event))).scalars())
        callers = [ADMIN, Principal("m", Role.MANAGER), Principal("s", Role.SALES), Principal("p1", Role.PARTNER, account_id=1),
                   Principal("p2", Role.PARTNER, account_id=2), Principal("p", Role.PARTNER), None]
        for caller in callers:
            in_sql = set((await s.execute(select(Event.id).where(row_scope("Event", caller)))).scalars())
            assert {row.id for row in rows if row_visible("Event", caller, row)} == in_sql, caller
    with pytest.raises(TypeError):
        row_visible("OrderLine", Principal("p1", Role.PARTNER, account_id=1), OrderLine(order_id=1))
