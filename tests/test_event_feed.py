"""The pull feed `events(after:, types:, first:)` over committed events: paging, resuming
after an event's ID, the types filter, a partner reading only its own account's events,
typed errors; nothing emitted by a refused mutation or an idempotent retry; and what
emitting costs in statements (one per change; one per batch for the bulk assessment)."""

from __future__ import annotations

import pytest

from crm.auth import Principal, Role
from datetime import datetime, timezone
from decimal import Decimal

from events.outbox import emit
from tests.event_helpers import FEED, feed, feed_page, pinged, pk_of, poster  # noqa: F401  (pinged: a fixture)
from tests.helpers import new_customer, new_product, ok
from tests.programme_helpers import agents_programme, enroll

PLACE = """mutation($i: OrderPlaceInput!, $k: String) { orderPlace(input: $i, idempotencyKey: $k) {
  order { id } errors { field code } } }"""


def partner(account: str) -> Principal:
    return Principal(f"{account}@test", Role.PARTNER, account_id=pk_of(account))


async def _orders(post, buyer: str, product: str, n: int) -> list[str]:
    return [(await ok(post, PLACE, {"i": {"customerId": buyer, "lines": [{"productId": product, "quantity": 1}]}},
                      "orderPlace"))["order"]["id"] for _ in range(n)]


@pytest.fixture
async def two_partners(committed_client):
    post = poster(committed_client)
    product = await new_product(post, "STD", "10.00", currency="CNY")
    a = await new_customer(post, "Partner A", classification="PARTNER")
    b = await new_customer(post, "Partner B", classification="PARTNER")
    return {"post": post, "client": committed_client, "product": product, "a": a, "b": b,
            "orders_a": await _orders(post, a, product, 5), "orders_b": await _orders(post, b, product, 2)}


async def test_pages_resume_after_an_event_id_and_filter_by_type(two_partners):
    post = two_partners["post"]
    everything, end = await feed(post)
    assert [e["data"]["order"] for e in everything] == two_partners["orders_a"] + two_partners["orders_b"]
    first = await feed_page(post, first=3)
    assert first["hasNextPage"] and [e["id"] for e in first["events"]] == [e["id"] for e in everything[:3]]
    rest = await feed_page(post, after=first["endCursor"], first=100)
    assert not rest["hasNextPage"] and rest["events"] == everything[3:]
    # resume after the last event processed, by its ID (the webhook-id)
    assert (await feed_page(post, after=everything[1]["id"]))["events"] == everything[2:]
    # the end of the feed: an empty page that says where to poll from
    tail = await feed_page(post, after=end)
    assert tail["events"] == [] and tail["endCursor"] == end and not tail["hasNextPage"]
    await ok(post, """mutation($o: ID!) { orderCancel(id: $o) { order { id } errors { code } } }""",
             {"o": two_partners["orders_a"][0]}, "orderCancel")
    polled = await feed_page(post, after=end)
    assert [e["type"] for e in polled["events"]] == ["order.cancelled"]
    cancelled = await feed_page(post, types=["order.cancelled"])
    assert [e["data"]["order"] for e in cancelled["events"]] == [two_partners["orders_a"][0]]
    assert (await feed_page(post, first=0)) == {"events": [], "endCursor": None, "hasNextPage": True}


async def test_resuming_after_an_event_that_overtook_an_open_transaction_skips_nothing(
        two_partners, committed_database, pinged):
    """T0 writes its event first and commits last; T1's event, committed meanwhile, is in
    the feed at once (not held back), and a client resuming after T1's id, or after the
    page's cursor, gets T0's event once T0 commits."""
    post = two_partners["post"]
    _, end = await feed(post)
    async with committed_database.session() as held:
        await held.begin()
        await emit(held, pinged(customer=1, amount=Decimal(0)), aggregate_id=1,
                   occurred_at=datetime.now(timezone.utc))
        await ok(post, """mutation($o: ID!) { orderCancel(id: $o) { order { id } errors { code } } }""",
                 {"o": two_partners["orders_a"][0]}, "orderCancel")
        overtaking = await feed_page(post, after=end)
        assert [e["type"] for e in overtaking["events"]] == ["order.cancelled"]
        await held.commit()
    by_id = await feed_page(post, after=overtaking["events"][0]["id"])
    by_cursor = await feed_page(post, after=overtaking["endCursor"])
    assert [e["type"] for e in by_id["events"]] == [e["type"] for e in by_cursor["events"]] == ["test.pinged"]


async def test_an_empty_types_list_is_refused(two_partners):
    result = await two_partners["post"](FEED, {"types": []})
    assert result.errors and result.errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert result.errors[0]["extensions"]["argument"] == "types"


async def test_a_partner_reads_only_its_own_accounts_events(two_partners):
    post = two_partners["post"]
    staff_sees, _ = await feed(post)
    as_a, as_b = poster(two_partners["client"], as_=partner(two_partners["a"])), \
        poster(two_partners["client"], as_=partner(two_partners["b"]))
    seen_a, _ = await feed(as_a)
    seen_b, _ = await feed(as_b)
    assert [e["data"]["order"] for e in seen_a] == two_partners["orders_a"]
    assert [e["data"]["order"] for e in seen_b] == two_partners["orders_b"]
    assert {e["id"] for e in seen_a} | {e["id"] for e in seen_b} == {e["id"] for e in staff_sees}
    # another partner's event ID is answered as an unknown one, and nothing leaks through node(id:)
    foreign = seen_b[0]["id"]
    result = await as_a(FEED, {"after": foreign})
    assert result.error_codes == ["BAD_USER_INPUT"] and result.data is None
    node = await as_a("""query($id: ID!) { node(id: $id) { id } }""", {"id": foreign})
    assert node.data == {"node": None}
    own = await as_a("""query($id: ID!) { node(id: $id) { ... on Event { type aggregateId } } }""", {"id": seen_a[0]["id"]})
    assert own.data["node"] == {"type": "order.placed", "aggregateId": two_partners["orders_a"][0]}


@pytest.mark.parametrize("arguments", [
    {"types": ["order.placed", "order.teleported"]},
    {"after": "not-a-cursor"},
    {"after": "WyJjdXN0b21lcnMiLFsxXV0"},  # a cursor of another list
    {"after": "RXZlbnQ6OTk5OTk5OQ=="},  # Event:9999999, which does not exist
    {"first": 101},
    {"first": -1},
])
async def test_bad_arguments_are_typed_errors(committed_client, arguments):
    result = await poster(committed_client)(FEED, arguments)
    assert result.status == 200 and result.error_codes == ["BAD_USER_INPUT"], result.body
    assert result.errors[0]["extensions"]["argument"] in arguments


async def test_a_refused_mutation_and_an_idempotent_retry_emit_nothing(committed_client):
    post = poster(committed_client)
    setup = await agents_programme(post, effective_from="2020-01-01T00:00:00+08:00")
    product = await new_product(post, "STD", "10.00", currency="CNY")
    account = await new_customer(post, "Partner", classification="PARTNER")
    _, start = await feed(post)
    # refused: a fee below the entry fee, an order without lines, an unknown product
    low = await post("""mutation($i: MembershipEnrollInput!) { membershipEnroll(input: $i) { errors { code } } }""",
                     {"i": {"accountId": account, "programmeId": setup["programme"], "tierCode": "B",
                            "feePayment": {"amount": {"amount": "1", "currency": "CNY"}, "paidAt": "2026-01-10T00:00:00+08:00"}}})
    assert [e["code"] for e in low.data["membershipEnroll"]["errors"]] == ["FEE_TOO_LOW"]
    for lines in ([], [{"productId": "UHJvZHVjdDo5OTk5OTk=", "quantity": 1}]):
        refused = await post(PLACE, {"i": {"customerId": account, "lines": lines}})
        assert refused.data["orderPlace"]["errors"], refused.body
    assert (await feed(post, start))[0] == []
    # an idempotent retry, and a replayed import: the first time only
    order = {"customerId": account, "lines": [{"productId": product, "quantity": 1}]}
    first = await ok(post, PLACE, {"i": order, "k": "order-1"}, "orderPlace")
    assert (await ok(post, PLACE, {"i": order, "k": "order-1"}, "orderPlace")) == first
    imported = {**order, "source": "erp", "externalReference": "PO-1", "paid": True}
    await ok(post, PLACE, {"i": imported}, "orderPlace")
    await ok(post, PLACE, {"i": imported}, "orderPlace")
    member = (await enroll(post, account, setup["programme"], "B", "300000", "2026-01-10T10:00:00+08:00"))["membership"]["id"]
    adjust = """mutation($m: ID!) { qualifyingAdjust(membershipId: $m, amount: "1000000", reason: "Imported", key: "k1",
      occurredAt: "2026-03-01T00:00:00+08:00") { membership { id } errors { code } } }"""
    await ok(post, adjust, {"m": member}, "qualifyingAdjust")
    await ok(post, adjust, {"m": member}, "qualifyingAdjust")  # the same ledger key: changes nothing
    emitted = [e["type"] for e in (await feed(post, start))[0]]
    assert emitted == ["order.placed", "order.placed", "order.paid", "membership.enrolled", "membership.fee_paid",
                       "tier.entered", "quota.granted", "tier.promoted", "quota.granted"]


def _emits(log) -> int:
    return sum("INSERT INTO event_stream" in statement for statement in log.statements)


async def test_a_change_emits_in_one_statement(post_graphql, count_statements):
    product = await new_product(post_graphql, "STD", "10.00", currency="CNY")
    buyer = await new_customer(post_graphql, "Partner", classification="PARTNER")
    async with count_statements() as log:
        order = (await ok(post_graphql, PLACE, {"i": {"customerId": buyer, "lines": [{"productId": product, "quantity": 2}],
                                                      "paid": True}}, "orderPlace"))["order"]["id"]
    assert _emits(log) == 1  # order.placed and order.paid, one statement
    async with count_statements() as log:
        await ok(post_graphql, """mutation($o: ID!) { orderReturn(id: $o) { order { id } errors { code } } }""",
                 {"o": order}, "orderReturn")
    assert _emits(log) == 1


@pytest.mark.parametrize("batch, batches", [(100, 1), (2, 3)])
async def test_the_bulk_assessment_emits_per_batch_not_per_member(post_graphql, count_statements, connection, database,
                                                                  batch, batches):
    """Six members whose fee terms ended: six tier.expired and six membership.lapsed,
    written by one statement per batch of members."""
    from datetime import datetime, timezone

    from sqlalchemy import text

    from tiers.assessment import assess_programme

    setup = await agents_programme(post_graphql, effective_from="2020-01-01T00:00:00+08:00")
    for i in range(6):
        account = await new_customer(post_graphql, f"Partner {i}", classification="PARTNER")
        await enroll(post_graphql, account, setup["programme"], "B", "300000", "2024-06-01T00:00:00+08:00")
    async with count_statements() as log:
        run = await assess_programme(database.session, pk_of(setup["programme"]),
                                     datetime(2026, 6, 1, tzinfo=timezone.utc), batch=batch, jobs=1)
    assert run.expired == 6 and run.batches == batches
    assert _emits(log) == batches
    counts = dict((await connection.execute(text(
        "SELECT type, count(*) FROM event WHERE type IN ('tier.expired', 'membership.lapsed') GROUP BY type"))).all())
    assert counts == {"tier.expired": 6, "membership.lapsed": 6}


async def test_a_refund_that_leaves_no_tier_lapses_the_membership(committed_client):
    """The ORM path (tiers.membership.record_change) says membership.lapsed with the
    row that leaves no tier, as the bulk assessment does (tests/test_event_scenarios.py)."""
    post = poster(committed_client)
    setup = await agents_programme(post, effective_from="2020-01-01T00:00:00+08:00")
    account = await new_customer(post, "Partner", classification="PARTNER")
    member = (await enroll(post, account, setup["programme"], "B", "300000", "2026-01-10T10:00:00+08:00"))["membership"]["id"]
    _, start = await feed(post)
    fee = (await post("""query($m: ID!) { node(id: $m) { ... on Membership { feePayments { id } } } }""",
                      {"m": member})).data["node"]["feePayments"][0]["id"]
    await ok(post, """mutation($f: ID!) { feeRefund(id: $f) { membership { id } errors { code } } }""", {"f": fee}, "feeRefund")
    events = (await feed(post, start))[0]
    assert [e["type"] for e in events] == ["membership.fee_refunded", "tier.refunded", "membership.lapsed"]
    refunded, lapsed = events[1], events[2]
    assert lapsed["data"]["change"] == refunded["data"]["change"] and lapsed["data"]["fromTier"] == "B"
    assert lapsed["data"]["reason"] == "refund" and {e["aggregateId"] for e in events} == {member}


async def test_crm_check_risk_tells_each_member_once_per_period(committed_client, database_url):
    from tests.process import crm_env, run_crm

    post = poster(committed_client)
    setup = await agents_programme(post, effective_from="2020-01-01T00:00:00+08:00")
    account = await new_customer(post, "Partner", classification="PARTNER")
    member = (await enroll(post, account, setup["programme"], "B", "300000", "2024-03-01T00:00:00+08:00"))["membership"]["id"]
    await ok(post, """mutation($m: ID!) { qualifyingAdjust(membershipId: $m, amount: "1000000", reason: "Imported",
      occurredAt: "2024-06-01T00:00:00+08:00") { membership { id } errors { code } } }""", {"m": member}, "qualifyingAdjust")
    # the same history, but a fee paid in 2025 holds A past the end of 2025: not at risk
    held = await new_customer(post, "Held partner", classification="PARTNER")
    other = (await enroll(post, held, setup["programme"], "B", "300000", "2024-03-01T00:00:00+08:00"))["membership"]["id"]
    await ok(post, """mutation($m: ID!) { qualifyingAdjust(membershipId: $m, amount: "1000000", reason: "Imported",
      occurredAt: "2024-06-01T00:00:00+08:00") { membership { id } errors { code } } }""", {"m": other}, "qualifyingAdjust")
    await enroll(post, held, setup["programme"], "A", "500000", "2025-06-01T00:00:00+08:00")
    _, start = await feed(post)
    check = ("check-risk", "--programme", "Agents", "--as-of", "2025-12-15T00:00:00+08:00")
    # 17 days before the end of 2025: not yet within 10 days, then within the default 30
    early = run_crm(*check, env=crm_env(DATABASE_URL=database_url, CRM_RISK_DAYS="10"))
    assert early.returncode == 0 and "0 members of Agents at risk" in early.stderr, early.stderr
    told = run_crm(*check, env=crm_env(DATABASE_URL=database_url))
    assert told.returncode == 0 and "1 members of Agents at risk" in told.stderr, told.stderr
    assert "0 members" in run_crm(*check, env=crm_env(DATABASE_URL=database_url)).stderr
    events = (await feed(post, start))[0]
    assert [(e["type"], e["aggregateId"]) for e in events] == [("tier.at_risk", member)]
    data = events[0]["data"]
    assert (data["tier"], data["volume"], data["retentionThreshold"], data["shortfall"], data["currency"]) == \
        ("A", "0.00", "800000.00", "800000.00", "CNY")
    # a share above 100% warns earlier, but never twice in the period
    assert "0 members" in run_crm(*check, env=crm_env(DATABASE_URL=database_url, CRM_RISK_SHARE_PERCENT="150")).stderr
    bad = run_crm("check-risk", "--programme", "Agents", "--as-of", "2025-12-15", env=crm_env(DATABASE_URL=database_url))
    assert bad.returncode == 2 and "UTC offset" in bad.stderr
