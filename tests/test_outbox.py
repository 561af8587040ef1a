"""The outbox itself (events.outbox): events are written by the changing transaction or
not at all, numbered per aggregate in commit order, never changed (but for the position the sequencer gives once), and the feed's order
never lets a reader skip an event that commits late nor shows one aggregate's events
out of their order."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timezone
from decimal import Decimal
from typing import Annotated

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from events import catalogue
from events.catalogue import Ref, json_schema, payload_of
from events.outbox import Emission, advance, emit, emit_all, page, position_of
from models import Event
from tests.event_helpers import pinged  # noqa: F401  (a fixture)

AT = datetime(2026, 3, 1, 12, 30, tzinfo=timezone.utc)


async def test_a_payload_is_published_with_global_ids_exact_money_and_its_schema(pinged):
    body = pinged(customer=42, amount=Decimal("10.50"), note="\u00e9")
    assert payload_of(body) == {"customer": "Q3VzdG9tZXI6NDI=", "amount": "10.50", "note": "\u00e9"}
    schema = json_schema(catalogue.type_of(body))
    assert schema["properties"]["data"]["required"] == ["customer", "amount", "note"]
    assert schema["properties"]["type"] == {"const": "test.pinged"}
    with pytest.raises(TypeError):
        payload_of(object())


async def test_events_commit_with_their_transaction_and_number_per_aggregate(committed_database, pinged):
    async with committed_database.session() as s, s.begin():
        await emit_all(s, [Emission(pinged(customer=1, amount=Decimal(1)), 1, AT, 1),
                           Emission(pinged(customer=2, amount=Decimal(2)), 2, AT, 2),
                           Emission(pinged(customer=1, amount=Decimal(3)), 1, AT, 1)])
    async with committed_database.session() as s, s.begin():
        await emit(s, pinged(customer=1, amount=Decimal(4)), aggregate_id=1, occurred_at=AT, account_id=1)
    with pytest.raises(RuntimeError):
        async with committed_database.session() as s, s.begin():
            await emit(s, pinged(customer=1, amount=Decimal(5)), aggregate_id=1, occurred_at=AT, account_id=1)
            raise RuntimeError("rolled back")
    assert await advance(committed_database) == 4
    async with committed_database.session() as s:
        rows = (await s.execute(select(Event.aggregate_id, Event.sequence, Event.payload["amount"].astext)
                                .order_by(Event.id))).all()
        assert rows == [(1, 1, "1"), (2, 1, "2"), (1, 2, "3"), (1, 3, "4")]
        assert [e.payload["amount"] for e in await page(s, after=None, limit=10, account_id=1)] == ["1", "3", "4"]
        assert len(await page(s, after=None, limit=10, everyone=True)) == 4
        assert await page(s, after=None, limit=10, account_id=3) == []


async def test_an_event_is_never_changed_or_deleted(committed_database, pinged):
    async with committed_database.session() as s, s.begin():
        await emit(s, pinged(customer=1, amount=Decimal(1)), aggregate_id=1, occurred_at=AT)
    # Before it has a position: giving one while changing anything else is refused.
    for statement in ("UPDATE event SET type = 'x'", "DELETE FROM event", "UPDATE event SET position = 1, sequence = 9"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with committed_database.session() as s, s.begin():
                await s.execute(text(statement))
    assert await advance(committed_database) == 1
    for statement in ("UPDATE event SET position = position + 1", "UPDATE event SET position = NULL", "DELETE FROM event"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with committed_database.session() as s, s.begin():
                await s.execute(text(statement))


async def test_a_late_commit_is_numbered_after_what_readers_have_read(committed_database, pinged):
    """T1 writes first and commits last. Readers are not held back by T1 (nor by any
    other open transaction), and once T1 commits its event comes after T2's: a reader
    paging from where it stopped gets it."""
    unrelated = committed_database.session()
    async with unrelated as idle, committed_database.session() as s1:
        await idle.begin()
        await idle.execute(text("SELECT pg_current_xact_id()"))  # an old transaction, open all along
        await s1.begin()
        await emit(s1, pinged(customer=1, amount=Decimal(1)), aggregate_id=1, occurred_at=AT)
        async with committed_database.session() as s2, s2.begin():
            await emit(s2, pinged(customer=2, amount=Decimal(2)), aggregate_id=2, occurred_at=AT)
        await advance(committed_database)
        async with committed_database.session() as reader:
            seen = await page(reader, after=None, limit=10, everyone=True)
            assert [e.payload["amount"] for e in seen] == ["2"]
        await s1.commit()
        await advance(committed_database)
        async with committed_database.session() as reader:
            later = await page(reader, after=position_of(seen[0]), limit=10, everyone=True)
            assert [e.payload["amount"] for e in later] == ["1"]
            assert await page(reader, after=position_of(later[0]), limit=10, everyone=True) == []
            assert [e.position for e in await page(reader, after=None, limit=10, everyone=True)] == [1, 2]
        await idle.rollback()


async def test_one_aggregates_events_are_in_commit_order_in_the_feed(committed_database, pinged):
    """Each writer takes its transaction id first (as a mutation does when it writes an
    idempotency row), then waits a random while, then emits: transaction ids and
    commit order disagree, the feed must follow the commits. Sequencers run meanwhile."""
    rng = random.Random(7)
    pauses = [rng.random() / 50 for _ in range(24)]

    async def one(i: int) -> None:
        async with committed_database.session() as s, s.begin():
            await s.execute(text("SELECT pg_current_xact_id()"))
            await asyncio.sleep(pauses[i])
            await emit(s, pinged(customer=1, amount=Decimal(i)), aggregate_id=7, occurred_at=AT)

    async def sequencers() -> None:
        for _ in range(20):
            await advance(committed_database)
            await asyncio.sleep(0.002)

    await asyncio.gather(*(one(i) for i in range(24)), sequencers(), sequencers())
    await advance(committed_database)
    async with committed_database.session() as s:
        feed = await page(s, after=None, limit=100, everyone=True)
    assert [e.sequence for e in feed] == list(range(1, 25))
    assert [e.position for e in feed] == list(range(1, 25))


async def test_concurrent_sequencers_give_every_event_one_position(committed_database, pinged):
    async def writer(k: int) -> None:
        for i in range(10):
            async with committed_database.session() as s, s.begin():
                await emit_all(s, [Emission(pinged(customer=k, amount=Decimal(i)), k, AT),
                                   Emission(pinged(customer=k + 100, amount=Decimal(i)), k + 100, AT)])

    async def sequencer() -> None:
        for _ in range(15):
            await advance(committed_database, batch=3)
            await asyncio.sleep(0)

    await asyncio.gather(*(writer(k) for k in range(6)), *(sequencer() for _ in range(4)))
    await advance(committed_database)
    async with committed_database.session() as s:
        positions = (await s.execute(select(Event.position).order_by(Event.position))).scalars().all()
        per_aggregate = (await s.execute(select(Event.aggregate_id, Event.sequence).order_by(Event.position))).all()
    assert positions == list(range(1, 121))
    last: dict[int, int] = {}
    for aggregate, sequence in per_aggregate:
        assert sequence == last.get(aggregate, 0) + 1
        last[aggregate] = sequence


def test_every_reason_a_history_row_can_have_has_its_event_type():
    from events.memberships import TIER_EVENTS
    from models import TierChangeReason

    assert set(TIER_EVENTS) == set(TierChangeReason)
    assert len({t for t in TIER_EVENTS.values()}) == len(TIER_EVENTS)
    for kind in TIER_EVENTS.values():
        catalogue.type_of(kind.__new__(kind))  # declared


async def test_a_promotion_emits_its_tier_event_in_its_transaction(committed_client, committed_database):
    from tests.helpers import new_customer, ok
    from tests.programme_helpers import agents_programme, enroll

    async def post(query, variables=None):
        response = await committed_client.post("/graphql", json={"query": query, "variables": variables or {}})
        from tests.conftest import GraphQLResult
        return GraphQLResult(response.status_code, response.json(), response.headers)

    setup = await agents_programme(post, effective_from="2020-01-01T00:00:00+08:00")
    agent = await new_customer(post, "Agent Co", classification="PARTNER")
    member = (await enroll(post, agent, setup["programme"], "B", "300000", "2026-01-10T10:00:00+08:00"))["membership"]["id"]
    await ok(post, """mutation($m: ID!) { qualifyingAdjust(membershipId: $m, amount: "1000000", reason: "Imported",
      occurredAt: "2026-03-01T00:00:00+08:00") { membership { id } errors { code } } }""", {"m": member}, "qualifyingAdjust")
    await advance(committed_database)
    async with committed_database.session() as s:
        tiers = await page(s, after=None, limit=10, everyone=True, types=["tier.entered", "tier.promoted"])
        seen = [(e.type, e.payload["fromTier"], e.payload["toTier"], e.payload["membership"]) for e in tiers]
        everything = [e.sequence for e in await page(s, after=None, limit=20, everyone=True)]
    # (joining and upgrading also emit membership.* and quota.* events, in the same stream)
    assert seen == [("tier.entered", None, "B", member), ("tier.promoted", "B", "A", member)]
    assert tiers[0].sequence < tiers[1].sequence and everything == list(range(1, len(everything) + 1))
