"""Live subscriptions over a real WebSocket (graphql-transport-ws) to real `crm serve`
processes on one database of their own: a partner's own tier change caused through
another process, staff streams by type, resuming after an event, authentication, a
rolled-back change, the hub's lost LISTEN connection, and a subscriber that stops
reading. docs/subscriptions.md says what is promised."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from decimal import Decimal

import asyncpg
import httpx
import pytest

from crm.auth import Principal, Role
from events.orders import OrderCancelled
from events.outbox import Emission, emit_all
from models import Database
from models.migrations import upgrade
from tests.conftest import ADMIN, TEST_SECRET_KEY, _asyncpg_dsn, fresh_database, token_for
from tests.event_helpers import feed, pk_of
from tests.helpers import new_customer, new_product, ok
from tests.process import Server, crm_env, wait_until
from tests.programme_helpers import agents_programme, enroll
from tests.ws_helpers import EVENT_FIELDS, events_of, http_poster, session, socket_to

STAFF_EVENTS = f"subscription($types: [String!], $after: String) {{ events(types: $types, after: $after) {{ {EVENT_FIELDS} }} }}"
MY_CHANGES = f"""subscription($after: String) {{ myMembershipChanged(after: $after) {{
  event {{ {EVENT_FIELDS} }} change fromTier toTier fromRank toRank explanation membership {{ tier {{ code }} }} }} }}"""
PLACE = """mutation($i: OrderPlaceInput!) { orderPlace(input: $i) { order { id } errors { code } } }"""


def partner(account: str) -> Principal:
    return Principal(f"{account}@test", Role.PARTNER, account_id=pk_of(account))


@pytest.fixture(scope="module")
def live_database(postgres_server_url):
    with fresh_database(postgres_server_url) as url:
        upgrade(url)
        yield url


def _serve(tmp_path_factory, url: str, name: str, **env: str) -> Server:
    server = Server(tmp_path_factory.mktemp(name) / "serve.log",
                    crm_env(DATABASE_URL=url, CRM_SECRET_KEY=TEST_SECRET_KEY, CRM_EVENTS_POLL_SECONDS="1", **env))
    return server


@pytest.fixture(scope="module")
def servers(live_database, tmp_path_factory):
    """Two processes serving one database."""
    pair = [_serve(tmp_path_factory, live_database, name) for name in ("one", "two")]
    try:
        for server in pair:
            server.wait_ready()
        yield pair
    finally:
        for server in pair:
            server.stop()
        for server in pair:
            assert "Traceback" not in server.output(), server.output()


@pytest.fixture(scope="module")
async def world(servers):
    post = http_poster(servers[0].base, ADMIN)
    w = await agents_programme(post, effective_from="2020-01-01T00:00:00+08:00")
    w["product"] = await new_product(post, "STD", "1200000.00", currency="CNY")
    w["small"] = await new_product(post, "SMALL", "10.00", currency="CNY")
    w["walk_in"] = await new_customer(post, "Walk-in buyer")
    for name in ("a", "b"):
        w[name] = await new_customer(post, f"Partner {name}", classification="PARTNER")
        w[f"m_{name}"] = (await enroll(post, w[name], w["programme"], "B", "300000",
                                       "2026-01-10T10:00:00+08:00"))["membership"]["id"]
    return w


async def _order(post, customer: str, product: str, *, paid: bool = True) -> str:
    return (await ok(post, PLACE, {"i": {"customerId": customer, "lines": [{"productId": product, "quantity": 1}],
                                         "paid": paid}}, "orderPlace"))["order"]["id"]


async def _end_of_feed(base: str, principal) -> str | None:
    return (await feed(http_poster(base, principal)))[1]


async def _until(ws, operation: str, done, field: str = "events", limit: int = 50) -> list[dict]:
    received = []
    for _ in range(limit):
        received.append(events_of(await ws.next_of(operation), field))
        if done(received[-1]):
            return received
    raise AssertionError(f"not done after {limit}: {received}")


async def _drain(ws, operation: str, field: str, quiet: float = 1.5) -> list[dict]:
    received = []
    while True:
        try:
            received.append(events_of(await ws.next_of(operation, timeout=quiet), field))
        except asyncio.TimeoutError:
            return received


async def _take(ws, operation: str, n: int) -> list[dict]:
    return [events_of(await ws.next_of(operation)) for _ in range(n)]


async def test_a_partner_receives_its_own_tier_change_made_through_another_process(servers, world):
    one, two = servers
    staff_after = await _end_of_feed(one.base, ADMIN)
    a_after = await _end_of_feed(one.base, partner(world["a"]))
    async with session(one.base, partner(world["a"])) as mine, session(one.base, ADMIN) as staff:
        changes = await mine.subscribe(MY_CHANGES, {"after": a_after})
        everything = await staff.subscribe(STAFF_EVENTS, {"types": ["tier.promoted"], "after": staff_after})
        # Both partners promoted at once, through the other process, over HTTP.
        post = http_poster(two.base, ADMIN)
        await asyncio.gather(_order(post, world["a"], world["product"]), _order(post, world["b"], world["product"]))
        promoted = await _take(staff, everything, 2)
        assert sorted(e["data"]["membership"] for e in promoted) == sorted([world["m_a"], world["m_b"]])
        # The hub of process one handed both promotions to its subscribers at once: once
        # nothing more comes, everything of a's has, and none of b's will.
        received = await _drain(mine, changes, "myMembershipChanged")
        assert "tier.promoted" in [c["change"] for c in received], received
    assert {c["event"]["data"]["membership"] for c in received} == {world["m_a"]}
    assert {c["event"]["data"]["account"] for c in received} == {world["a"]}
    change = next(c for c in received if c["change"] == "tier.promoted")
    assert (change["fromTier"], change["toTier"], change["fromRank"], change["toRank"]) == ("B", "A", 1, 2)
    assert change["explanation"] == change["event"]["data"]["explanation"] and change["explanation"]
    assert change["membership"] == {"tier": {"code": "A"}}


async def test_a_staff_stream_takes_only_the_types_asked_and_refuses_unknown_ones(servers, world):
    one, two = servers
    after = await _end_of_feed(one.base, ADMIN)
    async with session(one.base, ADMIN) as ws:
        paid = await ws.subscribe(STAFF_EVENTS, {"types": ["order.paid"], "after": after})
        post = http_poster(two.base, ADMIN)
        unpaid = await _order(post, world["walk_in"], world["small"], paid=False)
        bought = await _order(post, world["walk_in"], world["small"])
        [event] = await _until(ws, paid, lambda e: True)
        assert (event["type"], event["data"]["order"]) == ("order.paid", bought) and unpaid != bought
        await ws.nothing_for(1)
        unknown = await ws.subscribe(STAFF_EVENTS, {"types": ["order.paid", "order.teleported"]})
        message = await ws.final_of(unknown)
    errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"], message
    assert "order.teleported" in errors[0]["message"]


async def test_resuming_after_an_event_id_has_no_gap_and_no_duplicate(servers, world):
    one, two = servers
    post = http_poster(two.base, ADMIN)
    after = await _end_of_feed(one.base, ADMIN)
    async with session(one.base, ADMIN) as ws:
        operation = await ws.subscribe(STAFF_EVENTS, {"types": ["order.placed"], "after": after})
        first = await _order(post, world["walk_in"], world["small"])
        [seen] = await _until(ws, operation, lambda e: True)
        assert seen["data"]["order"] == first
    # Disconnected: three orders commit meanwhile, through the other process.
    missed = [await _order(post, world["walk_in"], world["small"]) for _ in range(3)]
    async with session(two.base, ADMIN) as ws:
        operation = await ws.subscribe(STAFF_EVENTS, {"types": ["order.placed"], "after": seen["id"]})
        caught_up = await _until(ws, operation, lambda e: e["data"]["order"] == missed[-1])
        live = await _order(post, world["walk_in"], world["small"])
        [pushed] = await _until(ws, operation, lambda e: True)
        await ws.nothing_for(1)
    assert [e["data"]["order"] for e in caught_up] == missed
    assert pushed["data"]["order"] == live
    ids = [seen["id"]] + [e["id"] for e in caught_up] + [pushed["id"]]
    assert len(set(ids)) == len(ids)


async def test_a_client_that_leaves_mid_stream_leaves_no_trace(servers, world):
    """The socket drops while the server is still sending a catch-up: the server logs no
    traceback (the module's teardown checks every log) and serves the next client."""
    one, _ = servers
    everything, end = await feed(http_poster(one.base, ADMIN))
    assert len(everything) > 10
    for _ in range(3):
        async with session(one.base, ADMIN) as ws:
            operation = await ws.subscribe(STAFF_EVENTS, {"after": everything[0]["id"]})
            await ws.next_of(operation)
            ws.connection.transport.abort()  # no close frame, no complete: gone
    async with session(one.base, ADMIN) as ws:
        operation = await ws.subscribe(STAFF_EVENTS, {"after": everything[-2]["id"]})
        assert events_of(await ws.next_of(operation))["id"] == everything[-1]["id"]


async def test_credentials_are_checked_at_connection_init(servers, world):
    one, _ = servers
    for payload in ({}, {"authorization": "Bearer not-a-token"}, {"authorization": "Basic abc"},
                    {"authorization": 42}, {"Authorization": "Bearer crm_nope_nope"}):
        async with socket_to(one.base) as ws:
            await ws.send({"type": "connection_init", "payload": payload})
            closed = await ws.closed()
            assert closed.code == 4403, (payload, closed)
    # The header GraphiQL's Headers tab sends is taken as well.
    async with socket_to(one.base) as ws:
        ack = await ws.init({"Authorization": f"Bearer {token_for(ADMIN)}"})
        assert ack["type"] == "connection_ack"
    # Subscribing before connection_init: 4401, as the protocol says.
    async with socket_to(one.base) as ws:
        await ws.subscribe(STAFF_EVENTS)
        assert (await ws.closed()).code == 4401


async def test_a_partner_stays_within_its_own_scope(servers, world):
    one, two = servers
    a = partner(world["a"])
    after = await _end_of_feed(one.base, a)
    async with session(one.base, a) as ws:
        # Every type, as the feed: only what concerns its own account.
        operation = await ws.subscribe(STAFF_EVENTS, {"after": after})
        post = http_poster(two.base, ADMIN)
        staff_only = await _order(post, world["walk_in"], world["small"])
        others = await _order(post, world["b"], world["small"])
        own = await _order(post, world["a"], world["small"])
        received = await _until(ws, operation, lambda e: e["type"] == "order.paid")
        await ws.nothing_for(1)
        assert [(e["type"], e["data"]["order"]) for e in received] == [("order.placed", own), ("order.paid", own)]
        assert staff_only != others
        # Another account's event ID is no place to resume from: answered as an unknown one.
        foreign = (await feed(http_poster(one.base, partner(world["b"]))))[0][-1]["id"]
        refused = await ws.subscribe(STAFF_EVENTS, {"after": foreign})
        message = await ws.final_of(refused)
        errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
        assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"], message
    async with session(one.base, ADMIN) as ws:
        staff = await ws.subscribe(MY_CHANGES)
        message = await ws.final_of(staff)
    errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
    assert [e["extensions"]["code"] for e in errors] == ["FORBIDDEN"], message


async def test_a_rolled_back_change_pushes_nothing(servers, world, live_database):
    one, two = servers
    after = await _end_of_feed(one.base, ADMIN)
    now = datetime.now(timezone.utc)
    body = OrderCancelled(order=1, customer=1, total=Decimal("1"), currency="CNY", status="cancelled", cancelled_at=now)
    database = Database.from_url(live_database, pool_size=1)
    try:
        async with session(one.base, ADMIN) as ws:
            operation = await ws.subscribe(STAFF_EVENTS, {"after": after})
            # A refused mutation (its transaction rolls back) and an outbox write rolled back by hand ...
            refused = await http_poster(two.base, ADMIN)(PLACE, {"i": {"customerId": world["walk_in"], "lines": [
                {"productId": "UHJvZHVjdDo5OTk5OTk=", "quantity": 1}]}})
            assert refused.data["orderPlace"]["errors"], refused.body
            async with database.session() as s:
                await emit_all(s, [Emission(body, aggregate_id=1, occurred_at=now)])
                await s.rollback()
            # ... then one that commits: it is the first thing pushed.
            committed = await _order(http_poster(two.base, ADMIN), world["walk_in"], world["small"])
            received = await _until(ws, operation, lambda e: e["type"] == "order.paid")
            await ws.nothing_for(1)
    finally:
        await database.dispose()
    assert [(e["type"], e["data"]["order"]) for e in received] == [("order.placed", committed), ("order.paid", committed)]


async def _hub_backends(dsn: str) -> list[int]:
    connection = await asyncpg.connect(dsn)
    try:
        return [r["pid"] for r in await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'crm-live-hub' AND datname = current_database()")]
    finally:
        await connection.close()


async def test_the_hub_reconnects_after_its_listen_connection_dies_and_misses_nothing(servers, world, live_database):
    one, two = servers
    dsn = _asyncpg_dsn(live_database)
    after = await _end_of_feed(one.base, ADMIN)
    async with session(one.base, ADMIN) as ws:
        operation = await ws.subscribe(STAFF_EVENTS, {"types": ["order.placed"], "after": after})
        first = await _order(http_poster(two.base, ADMIN), world["walk_in"], world["small"])
        assert (await _until(ws, operation, lambda e: True))[0]["data"]["order"] == first
        before = set(await _hub_backends(dsn))
        assert before  # each process that serves a subscription listens
        killer = await asyncpg.connect(dsn)
        try:
            await killer.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE application_name = 'crm-live-hub' AND datname = current_database()")
        finally:
            await killer.close()
        # Committed while nobody listens: no notification will ever announce these.
        missed = [await _order(http_poster(two.base, ADMIN), world["walk_in"], world["small"]) for _ in range(2)]
        received = await _until(ws, operation, lambda e: e["data"]["order"] == missed[-1])
        assert [e["data"]["order"] for e in received] == missed
    assert await asyncio.to_thread(wait_until, lambda: bool(asyncio.run(_hub_backends(dsn))), 20)
    assert not set(await _hub_backends(dsn)) & before
    assert "reconnecting" in one.output()


async def test_a_subscriber_that_does_not_read_is_closed_and_the_server_carries_on(live_database, tmp_path_factory):
    server = _serve(tmp_path_factory, live_database, "slow", CRM_SUBSCRIPTION_QUEUE="200")
    database = Database.from_url(live_database, pool_size=1)
    try:
        server.wait_ready()
        now = datetime.now(timezone.utc)
        body = OrderCancelled(order=1, customer=1, total=Decimal("1"), currency="CNY", status="cancelled",
                              cancelled_at=now)
        # Uncompressed (no permessage-deflate), so what waits fills the buffers rather than
        # shrinking to almost nothing.
        async with socket_to(server.base, receive_buffer=4096, max_queue=1, compression=None) as ws:
            assert (await ws.init({"authorization": f"Bearer {token_for(ADMIN)}"}))["type"] == "connection_ack"
            await ws.subscribe(STAFF_EVENTS, {"types": ["order.cancelled"]})
            await asyncio.sleep(0.5)  # the subscription is registered (an event before it would only be skipped)
            for _ in range(4):
                async with database.session() as s:
                    await emit_all(s, [Emission(body, aggregate_id=1, occurred_at=now)] * 5000)
                    await s.commit()
            # It reads nothing until the server has given up on it ...
            assert await asyncio.to_thread(wait_until, lambda: "dropped a subscriber" in server.output(), 60), \
                server.output()
            closed = await ws.closed(timeout=30)  # ... then gets what was sent, and the close
        assert closed.code == 4413, closed
        # The server carries on: ready, and a new subscription is served.
        assert httpx.get(f"{server.base}/readyz", timeout=5).status_code == 200
        async with session(server.base, ADMIN) as ws:
            operation = await ws.subscribe(STAFF_EVENTS, {"types": ["order.cancelled"]})
            # From now on: an event committed before the subscription registered is not its
            # to receive, so commit until one arrives (a loaded machine registers late).
            for _ in range(20):
                async with database.session() as s:
                    await emit_all(s, [Emission(body, aggregate_id=1, occurred_at=now)])
                    await s.commit()
                try:
                    pushed = await ws.next_of(operation, timeout=1)
                    break
                except asyncio.TimeoutError:
                    continue
            assert pushed["data"]["events"]["type"] == "order.cancelled"
    finally:
        await database.dispose()
        server.stop()
    assert "Traceback" not in server.output(), server.output()


async def test_the_readmes_subscriptions_push_an_enrolment(servers, world):
    from tests.test_readme import SUBSCRIPTIONS

    one, two = servers
    assert len(SUBSCRIPTIONS) == 2
    post = http_poster(two.base, ADMIN)
    newcomer = await new_customer(post, "Partner c", classification="PARTNER")
    cursor = await _end_of_feed(one.base, ADMIN)  # a feed position: any caller may start after it
    async with session(one.base, partner(newcomer)) as mine, session(one.base, ADMIN) as staff:
        operations = [(mine, await mine.subscribe(SUBSCRIPTIONS[0], {"after": cursor}), "myMembershipChanged"),
                      (staff, await staff.subscribe(SUBSCRIPTIONS[1], {"after": cursor}), "events")]
        member = (await enroll(post, newcomer, world["programme"], "B", "300000",
                               "2026-02-01T10:00:00+08:00"))["membership"]["id"]
        first = [await ws.next_of(operation) for ws, operation, _ in operations]
    for payload, (_, _, field) in zip(first, operations):
        assert "errors" not in payload, payload
    change, tier = first[0]["data"]["myMembershipChanged"], first[1]["data"]["events"]
    assert change["change"] == "membership.enrolled" and change["membership"]["tier"]["name"] == "B-level agent"
    assert (tier["type"], tier["aggregateId"], tier["data"]["toTier"]) == ("tier.entered", member, "B")


async def test_an_event_without_a_notification_arrives_by_the_poll(servers, world, live_database):
    """A commit whose NOTIFY is lost (here: an event written without one) is read by the
    hub's poll (CRM_EVENTS_POLL_SECONDS, 1 s for these servers)."""
    one, _ = servers
    after = await _end_of_feed(one.base, ADMIN)
    async with session(one.base, ADMIN) as ws:
        operation = await ws.subscribe(STAFF_EVENTS, {"types": ["order.cancelled"], "after": after})
        await ws.nothing_for(0.5)
        connection = await asyncpg.connect(_asyncpg_dsn(live_database))
        try:
            data = {"order": "T3JkZXI6OTk5", "customer": "Q3VzdG9tZXI6OTk5", "total": "1", "currency": "CNY",
                    "status": "cancelled", "cancelledAt": "2026-12-01T00:00:00+00:00"}
            await connection.execute(
                "INSERT INTO event (type, version, occurred_at, aggregate_type, aggregate_id, sequence, payload) "
                "VALUES ('order.cancelled', 1, now(), 'Order', 999, 1, $1::jsonb)", json.dumps(data))
        finally:
            await connection.close()
        [event] = await _take(ws, operation, 1)
    assert event["data"]["order"] == "T3JkZXI6OTk5"


async def test_demo_mode_serves_the_readmes_subscription_to_graphiqls_origin(tmp_path):
    """`crm serve --demo`, as the README's GraphiQL user meets it: the page's origin may
    open the socket, the printed partner token subscribes to the README's example, and an
    order Northwind pays (placed by the printed admin token) pushes its tier's news."""
    import re

    from tests.test_readme import SUBSCRIPTIONS

    server = Server(tmp_path / "demo.log", crm_env(CRM_DATA_DIR=str(tmp_path / "data"), CRM_SECRET_KEY=TEST_SECRET_KEY,
                                                   CRM_EVENTS_POLL_SECONDS="1"), "--demo")
    try:
        server.wait_ready()
        tokens = re.findall(r"\b(eyJ[\w-]+\.[\w-]+\.[\w-]+)", server.output())
        admin_token, nora_token = tokens[0], tokens[-1]
        admin = {"Authorization": f"Bearer {admin_token}"}
        async with httpx.AsyncClient(base_url=server.base, headers=admin) as client:
            async def post(query, variables=None):
                body = (await client.post("/graphql", json={"query": query, "variables": variables or {}})).json()
                assert "errors" not in body, body
                return body["data"]
            end = (await post("{ events(first: 100) { endCursor } }"))["events"]["endCursor"]
            northwind = (await post('{ customers(filter: {name: {eq: "Northwind Traders"}}) { edges { node { id } } } }'))
            kit = (await post('{ products(first: 1, filter: {sku: {eq: "KIT-STD"}}) { edges { node { id } } } }'))
            async with socket_to(server.base, origin=server.base) as ws:
                assert (await ws.init({"Authorization": f"Bearer {nora_token}"}))["type"] == "connection_ack"
                operation = await ws.subscribe(SUBSCRIPTIONS[0], {"after": end})
                placed = await post("""mutation($i: OrderPlaceInput!) { orderPlace(input: $i) { order { id } errors { code } } }""",
                                    {"i": {"customerId": northwind["customers"]["edges"][0]["node"]["id"], "paid": True,
                                           "lines": [{"productId": kit["products"]["edges"][0]["node"]["id"],
                                                      "quantity": 2000}]}})
                assert placed["orderPlace"]["errors"] == [], placed
                pushed = await ws.next_of(operation)
        assert "errors" not in pushed, pushed
        change = pushed["data"]["myMembershipChanged"]
        assert change["change"].startswith(("tier.", "quota.", "membership.")), change
        assert change["membership"]["tier"]["name"] and change["event"]["id"]
    finally:
        server.stop()
    assert "Traceback" not in server.output(), server.output()
