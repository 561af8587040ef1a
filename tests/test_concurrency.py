"""Real concurrent requests on real connections (transactions commit)."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
from sqlalchemy import event, text

from models import Database
from server import create_app
from tests.conftest import ADMIN, token_for

PLACE = """mutation($input: OrderPlaceInput!) { orderPlace(input: $input) { order { id } errors { field code } } }"""


async def gql(client, query, variables=None):
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


async def test_concurrent_replays_of_one_import_create_one_order(committed_client):
    customer = (await gql(committed_client, 'mutation { customerCreate(input: {name: "Buyer"}) { customer { id } } }'))["customerCreate"]["customer"]["id"]
    product = (await gql(committed_client, 'mutation { productCreate(input: {sku: "A", name: "A", listPrice: {amount: "9.99", currency: "EUR"}}) { product { id } } }'))["productCreate"]["product"]["id"]
    variables = {"input": {"customerId": customer, "source": "erp", "externalReference": "SO-77",
                           "lines": [{"productId": product, "quantity": 3}]}}
    results = await asyncio.gather(*(gql(committed_client, PLACE, variables) for _ in range(20)))
    ids = {r["orderPlace"]["order"]["id"] for r in results}
    assert all(r["orderPlace"]["errors"] == [] for r in results)
    assert len(ids) == 1
    count = await gql(committed_client, "{ orders { totalCount } }")
    assert count["orders"]["totalCount"] == 1


async def test_concurrent_merges_of_the_same_pair_apply_once(committed_client):
    make = 'mutation($n: String!) { customerCreate(input: {name: $n}) { customer { id } } }'
    a = (await gql(committed_client, make, {"n": "A"}))["customerCreate"]["customer"]["id"]
    b = (await gql(committed_client, make, {"n": "B"}))["customerCreate"]["customer"]["id"]
    merge = "mutation($i: ID!, $f: ID!) { customerMerge(intoId: $i, fromId: $f) { merge { id } errors { field code } } }"
    results = await asyncio.gather(*(gql(committed_client, merge, {"i": a, "f": b}) for _ in range(10)),
                                   *(gql(committed_client, merge, {"i": b, "f": a}) for _ in range(10)))
    succeeded = [r for r in results if r["customerMerge"]["errors"] == []]
    assert len(succeeded) == 1
    assert all(r["customerMerge"]["errors"] in ([{"field": "fromId", "code": "ARCHIVED"}], [{"field": "intoId", "code": "ARCHIVED"}])
               for r in results if r not in succeeded)
    live = await gql(committed_client, "{ customers { totalCount } }")
    assert live["customers"]["totalCount"] == 1


async def test_concurrent_creates_of_one_unique_name_make_one(committed_client):
    create = 'mutation { channelCreate(input: {name: "Web", kind: WEB}) { channel { id } errors { field code } } }'
    results = await asyncio.gather(*(gql(committed_client, create) for _ in range(12)))
    outcomes = sorted(str(r["channelCreate"]["errors"]) for r in results)
    assert outcomes.count("[]") == 1
    assert outcomes.count("[{'field': 'name', 'code': 'DUPLICATE'}]") == 11


async def test_concurrent_creates_of_one_customer_email_make_one(committed_client):
    create = 'mutation { customerCreate(input: {name: "Twin", email: "twin@example.com"}) { customer { id } errors { field code } } }'
    results = await asyncio.gather(*(gql(committed_client, create) for _ in range(12)))
    assert sum(r["customerCreate"]["errors"] == [] for r in results) == 1
    assert (await gql(committed_client, "{ customers { totalCount } }"))["customers"]["totalCount"] == 1


async def test_fifty_concurrent_bookings_against_ten_remaining_sessions(committed_client):
    from datetime import datetime, timedelta, timezone

    from tests.programme_helpers import AGENT_TIERS

    tiers = [dict(t) for t in AGENT_TIERS]
    tiers[0]["trainingQuota"] = 12
    data = await gql(committed_client, """mutation {
      p: programmeCreate(input: {name: "Agents", kind: AGENT, currency: "CNY", timeZone: "Asia/Shanghai"}) { programme { id } } }""")
    programme = data["p"]["programme"]["id"]
    version = (await gql(committed_client, "mutation($p: ID!, $t: [TierInput!]!) { ruleVersionCreate(programmeId: $p, tiers: $t) { version { id } } }",
                         {"p": programme, "t": tiers}))["ruleVersionCreate"]["version"]["id"]
    start = (datetime.now(timezone.utc) - timedelta(days=1)).isoformat()
    await gql(committed_client, "mutation($v: ID!, $at: DateTime!) { ruleVersionPublish(id: $v, effectiveFrom: $at) { version { id } } }",
              {"v": version, "at": start})
    agent = (await gql(committed_client, 'mutation { customerCreate(input: {name: "Agent", classification: PARTNER}) { customer { id } } }'))["customerCreate"]["customer"]["id"]
    enrolled = await gql(committed_client, """mutation($a: ID!, $p: ID!) { membershipEnroll(input: {accountId: $a, programmeId: $p,
        tierCode: "B", feePayment: {amount: {amount: "300000", currency: "CNY"}}}) { membership { id } errors { code } } }""",
                         {"a": agent, "p": programme})
    membership = enrolled["membershipEnroll"]["membership"]["id"]
    book = """mutation($m: ID!, $at: DateTime!) { trainingBook(membershipId: $m, title: "Coaching", sessionAt: $at) {
        booking { id } errors { field code } } }"""
    session_at = (datetime.now(timezone.utc) + timedelta(days=30)).isoformat()
    for _ in range(2):  # 12 granted, 2 used: 10 remain
        assert (await gql(committed_client, book, {"m": membership, "at": session_at}))["trainingBook"]["errors"] == []

    results = await asyncio.gather(*(gql(committed_client, book, {"m": membership, "at": session_at}) for _ in range(50)))
    booked = [r for r in results if r["trainingBook"]["errors"] == []]
    refused = [r for r in results if r["trainingBook"]["errors"] == [{"field": "membershipId", "code": "QUOTA_EXHAUSTED"}]]
    assert (len(booked), len(refused)) == (10, 40)
    view = await gql(committed_client, "query($a: ID!) { membership(accountId: $a) { training { granted used remaining } upcomingBookings { id } } }",
                     {"a": agent})
    assert view["membership"]["training"] == {"granted": 12, "used": 12, "remaining": 0}
    assert len(view["membership"]["upcomingBookings"]) == 12
    # cancelling before the session gives the unit back
    cancel = "mutation($id: ID!) { trainingCancel(id: $id) { booking { status } errors { code } } }"
    assert (await gql(committed_client, cancel, {"id": booked[0]["trainingBook"]["booking"]["id"]}))["trainingCancel"]["booking"]["status"] == "cancelled"
    view = await gql(committed_client, "query($a: ID!) { membership(accountId: $a) { training { remaining } } }", {"a": agent})
    assert view["membership"]["training"]["remaining"] == 1


async def test_forty_concurrent_benefit_uses_against_ten_remaining_days(committed_client):
    """The machinery of training bookings, for a benefit besides training: uses of one
    member are serialised on its membership row."""
    from datetime import datetime, timedelta, timezone

    from tests.programme_helpers import BENEFIT_TIERS

    tiers = [dict(t) for t in BENEFIT_TIERS]
    tiers[0]["extraBenefits"] = [{"code": "co_marketing_days", "name": "Co-marketing fund days", "quantity": 12}]
    programme = (await gql(committed_client, """mutation {
      p: programmeCreate(input: {name: "Agents", kind: AGENT, currency: "CNY", timeZone: "Asia/Shanghai",
                                 windowKind: ROLLING_MONTHS, windowMonths: 12}) { programme { id } } }"""))["p"]["programme"]["id"]
    version = (await gql(committed_client, "mutation($p: ID!, $t: [TierInput!]!) { ruleVersionCreate(programmeId: $p, tiers: $t) { version { id } } }",
                         {"p": programme, "t": tiers}))["ruleVersionCreate"]["version"]["id"]
    await gql(committed_client, "mutation($v: ID!, $at: DateTime!) { ruleVersionPublish(id: $v, effectiveFrom: $at) { version { id } } }",
              {"v": version, "at": (datetime.now(timezone.utc) - timedelta(days=400)).isoformat()})
    agent = (await gql(committed_client, 'mutation { customerCreate(input: {name: "Agent", classification: PARTNER}) { customer { id } } }'))["customerCreate"]["customer"]["id"]
    enrolled = await gql(committed_client, """mutation($a: ID!, $p: ID!, $at: DateTime) { membershipEnroll(input: {accountId: $a,
        programmeId: $p, tierCode: "B", feePayment: {amount: {amount: "300000", currency: "CNY"}, paidAt: $at}}) {
        membership { id } errors { code } } }""", {"a": agent, "p": programme,
                                                   "at": (datetime.now(timezone.utc) - timedelta(days=40)).isoformat()})
    membership = enrolled["membershipEnroll"]["membership"]["id"]
    use = """mutation($m: ID!, $q: Int!) { benefitUse(membershipId: $m, benefit: "co_marketing_days", quantity: $q) {
        membership { id } errors { field code } } }"""
    assert (await gql(committed_client, use, {"m": membership, "q": 2}))["benefitUse"]["errors"] == []  # 10 remain

    results = await asyncio.gather(*(gql(committed_client, use, {"m": membership, "q": 1}) for _ in range(40)))
    used = [r for r in results if r["benefitUse"]["errors"] == []]
    refused = [r for r in results if r["benefitUse"]["errors"] == [{"field": "membershipId", "code": "QUOTA_EXHAUSTED"}]]
    assert (len(used), len(refused)) == (10, 30)
    view = await gql(committed_client, "query($a: ID!) { membership(accountId: $a) { benefits { code granted used remaining } } }",
                     {"a": agent})
    assert {"code": "co_marketing_days", "granted": 12, "used": 12, "remaining": 0} in view["membership"]["benefits"]


async def test_a_steady_load_reuses_the_pools_connections(database_url, settings):
    """Sixteen requests at a time, as the benchmark sends them, on the pool the server
    makes from its default settings: once the pool is filled no request opens a
    connection. SQLAlchemy closes an overflow connection when it is returned, so a pool
    smaller than the load made PostgreSQL fork a backend (and the driver re-prepare its
    statements) for nearly every request."""
    database = Database.from_url(database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow)
    opened = 0

    @event.listens_for(database.engine.sync_engine, "connect")
    def count(*_: object) -> None:
        nonlocal opened
        opened += 1

    query = "query($n: Int!) { customers(first: $n) { totalCount edges { node { id name } } } }"
    transport = httpx.ASGITransport(app=create_app(settings, database=database))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            client.headers["Authorization"] = f"Bearer {token_for(ADMIN)}"
            for burst in range(5):
                if burst == 2:  # the first burst takes the normal path, which learns the plan
                    filled = opened
                await asyncio.gather(*(gql(client, query, {"n": 1 + i % 3}) for i in range(16)))
    finally:
        await database.dispose()
    assert opened == filled


async def test_a_read_on_a_lost_connection_is_answered_and_the_connection_replaced(database_url, settings, engine):
    """The single-statement path runs on asyncpg's connection itself: when PostgreSQL has
    dropped that connection, the request is still answered (by the normal path) and the
    pool replaces the connection, so the next read is a single statement again."""
    from tests.test_compiled import engine_of

    database = Database.from_url(database_url, pool_size=1, max_overflow=0)
    app = create_app(settings, database=database)
    compiler = engine_of(app)
    query = "{ customers(first: 2) { totalCount edges { node { name } } } }"

    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            client.headers["Authorization"] = f"Bearer {token_for(ADMIN)}"
            expected = await gql(client, query)  # the normal path, which learns the plan
            assert await gql(client, query) == expected and compiler.paths["sql"] == 1
            async with database.driver_connection() as pooled:  # the pool's only connection
                pid = pooled.get_server_pid()
            async with engine.connect() as connection:
                assert (await connection.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})).scalar_one()
            assert await gql(client, query) == expected
            by_sql = compiler.paths["sql"]
            assert await gql(client, query) == expected and compiler.paths["sql"] == by_sql + 1
            async with database.driver_connection() as pooled:
                assert pooled.get_server_pid() != pid
    finally:
        await database.dispose()


async def test_an_assessment_decides_again_a_member_changed_while_it_ran(committed_client, database_url, engine):
    """A member whose row another transaction changes while a batch is decided is not
    written from the stale decision: the batch's UPDATE finds the row changed, leaves it
    out, and the batch is decided again on the new state (one history row, not two)."""
    from datetime import datetime, timezone
    from decimal import Decimal

    from models import Customer, Membership, Programme, QualifyingEntry, RuleVersion, Tier
    from tiers.assessment import assess_programme

    utc = timezone.utc
    async with database_session(engine) as session:
        programme = Programme(name="Race", kind="member", currency="EUR", time_zone="UTC", window_kind="calendar_year",
                              fee_term_months=12, demotion_policy="at_period_end", max_drop=1, grace_days=0)
        session.add(programme)
        await session.flush()
        version = RuleVersion(programme_id=programme.id, number=1, status="published", effective_from=datetime(2000, 1, 1, tzinfo=utc))
        account = Customer(name="Racer", kind="person")
        session.add_all([version, account])
        await session.flush()
        session.add(Tier(rule_version_id=version.id, rank=1, code="S", name="Silver", entry_fee=Decimal(0), discount_rate=Decimal(0),
                         training_quota=0, promotion_threshold=Decimal(100), retention_threshold=Decimal(50)))
        member = Membership(account_id=account.id, programme_id=programme.id, joined_at=datetime(2024, 1, 1, tzinfo=utc))
        session.add(member)
        await session.flush()
        session.add(QualifyingEntry(membership_id=member.id, amount=Decimal(200), occurred_at=datetime(2024, 6, 1, tzinfo=utc),
                                    source="race"))
        programme_id, member_id = programme.id, member.id

    database = Database.from_url(database_url, pool_size=2)
    try:
        async with engine.connect() as writer:
            transaction = await writer.begin()
            # Another transaction has changed the member (a promotion by an order, say) and not committed yet.
            await writer.execute(text("UPDATE membership SET earned_until = '2030-01-01T00:00:00Z' WHERE id = :id"), {"id": member_id})
            assessing = asyncio.create_task(assess_programme(database.session, programme_id, datetime(2025, 1, 2, tzinfo=utc), jobs=1))
            async with engine.connect() as probe:
                # until the batch's UPDATE waits for the writer's row lock (a generous
                # bound: on a loaded 2-core machine the batch took over 4 s to get there)
                for _ in range(1500):
                    waiting = (await probe.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                                                        " AND wait_event_type = 'Lock'"))).scalar_one()
                    if waiting or assessing.done():
                        break
                    await asyncio.sleep(0.02)
            assert waiting == 1
            await transaction.commit()
        run = await asyncio.wait_for(assessing, 30)
    finally:
        await database.dispose()
    assert (run.members, run.promoted, run.retried) == (1, 1, 1)
    async with engine.connect() as connection:
        changes = (await connection.execute(text("SELECT count(*) FROM tier_change WHERE membership_id = :id"), {"id": member_id})).scalar_one()
        row = (await connection.execute(text("SELECT earned_rank, tier_rank, earned_until FROM membership WHERE id = :id"),
                                        {"id": member_id})).one()
    assert changes == 1
    # decided again on the row as the writer left it: promoted, held until the end of the next period
    assert tuple(row) == (1, 1, datetime(2026, 1, 1, tzinfo=utc))


@contextlib.asynccontextmanager
async def database_session(engine):
    from sqlalchemy.ext.asyncio import AsyncSession

    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        yield session


async def test_a_refused_field_beside_fields_sharing_a_loader_is_forbidden_not_a_500(committed_client):
    """Thirty customers and deals share one owner: their `owner` fields wait on one
    loader future. A refused non-null field (`timeline`, staff only) makes graphql-core
    give up on the result and cancel the fields still waiting; that must not cancel the
    shared future under the others (its CancelledError escaped as an HTTP 500)."""
    import base64

    from crm.auth import Principal, Role

    owner = (await gql(committed_client, 'mutation { userCreate(input: {email: "s@x.example", name: "S", role: SALES}) { user { id } } }'))["userCreate"]["user"]["id"]
    partner = (await gql(committed_client, 'mutation { customerCreate(input: {name: "P", classification: PARTNER}) { customer { id } } }'))["customerCreate"]["customer"]["id"]
    for i in range(30):
        customer = (await gql(committed_client, """mutation($o: ID!, $p: ID!, $n: String!) {
            customerCreate(input: {name: $n, ownerId: $o, referringPartnerId: $p}, allowDuplicate: true) { customer { id } } }""",
                              {"o": owner, "p": partner, "n": f"C{i}"}))["customerCreate"]["customer"]["id"]
        await gql(committed_client, """mutation($c: ID!, $p: ID!, $o: ID!) { opportunityCreate(input: {customerId: $c, name: "D",
            amount: {amount: "1", currency: "EUR"}, registeringPartnerId: $p, ownerId: $o}) { errors { code } } }""",
                  {"c": customer, "p": partner, "o": owner})
    account = int(base64.b64decode(partner).decode().split(":")[1])
    headers = {"Authorization": f"Bearer {token_for(Principal('p', Role.PARTNER, account_id=account))}"}
    query = """{ customers(first: 30) { edges { node { id owner { name } timeline(first: 5) { edges { node { at } } } } } }
                 opportunities(first: 30) { edges { node { customer { owner { name } } } } } }"""
    for _ in range(5):
        response = await committed_client.post("/graphql", json={"query": query}, headers=headers)
        assert response.status_code == 200, response.text
        assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["FORBIDDEN"]
