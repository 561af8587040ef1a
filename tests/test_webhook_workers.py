"""`crm worker` processes sharing the deliveries: with two of them every event is
delivered exactly once while nothing crashes; with one killed (-9) mid-batch every event
is still delivered, the ones it held again, with the same webhook-id."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter

import pytest
from sqlalchemy import text

from tests.event_helpers import poster
from tests.webhook_helpers import CREATE, Receiver, emit_events, private_allowed_settings, worker_process

EVENTS = 1000


@pytest.fixture
def settings():
    return private_allowed_settings()


async def _until(predicate, timeout: float = 120) -> None:
    """Waits (letting the receiver serve) until `predicate()`; a bound, not a timing test."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not done in time"
        await asyncio.sleep(0.05)


async def _pending(database) -> int:
    async with database.session() as session:
        return (await session.execute(text("SELECT count(*) FROM webhook_delivery WHERE status <> 'succeeded'")
                                      )).scalar_one()


def _stop(workers) -> list[int]:
    for process in workers:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    return [process.wait(30) for process in workers]


async def test_two_workers_deliver_every_event_once(committed_client, committed_database, database_url, tmp_path):
    receiver = await Receiver().start()
    workers = []
    try:
        result = await poster(committed_client)(CREATE, {"i": {"url": receiver.url}})
        assert result.data["webhookEndpointCreate"]["errors"] == [], result.body
        workers = [worker_process(database_url, tmp_path / f"worker{n}.log") for n in range(2)]
        await emit_events(committed_database, EVENTS)
        await _until(lambda: len(set(receiver.ids())) == EVENTS)
        for _ in range(100):
            if await _pending(committed_database) == 0:
                break
            await asyncio.sleep(0.05)
        assert await _pending(committed_database) == 0
        assert _stop(workers) == [0, 0]  # SIGTERM: the batch in flight finished, then a clean exit
        counts = Counter(receiver.ids())
        assert len(counts) == EVENTS and max(counts.values()) == 1  # none twice
        assert all(r.headers["webhook-id"] == r.json["id"] for r in receiver.received)
        async with committed_database.session() as session:
            by_worker = dict((await session.execute(text(
                "SELECT worker, count(*) FROM webhook_attempt GROUP BY worker"))).all())
        assert len(by_worker) == 2 and sum(by_worker.values()) == EVENTS, by_worker  # both took a share
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
        await receiver.stop()


async def test_a_worker_killed_mid_batch_loses_nothing(committed_client, committed_database, database_url, tmp_path):
    receiver = await Receiver().start()
    receiver.gate.clear()  # requests are received, and held unanswered
    workers = []
    try:
        result = await poster(committed_client)(CREATE, {"i": {"url": receiver.url}})
        assert result.data["webhookEndpointCreate"]["errors"] == [], result.body
        workers = [worker_process(database_url, tmp_path / f"worker{n}.log", CRM_WEBHOOK_LEASE_SECONDS="2")
                   for n in range(2)]
        await emit_events(committed_database, EVENTS)
        # Each worker has 16 attempts in flight (events.delivery.DeliveryPolicy.concurrency).
        await _until(lambda: len(receiver.received) >= 32, timeout=60)
        workers[0].send_signal(signal.SIGKILL)
        assert workers[0].wait(10) == -signal.SIGKILL
        receiver.gate.set()
        await _until(lambda: len(set(receiver.ids())) == EVENTS)
        for _ in range(200):
            if await _pending(committed_database) == 0:
                break
            await asyncio.sleep(0.05)
        assert await _pending(committed_database) == 0
        assert _stop(workers[1:]) == [0]
        counts = Counter(receiver.ids())
        assert len(counts) == EVENTS  # every event at least once
        duplicated = [i for i, n in counts.items() if n > 1]
        assert 1 <= len(duplicated) <= 16, len(duplicated)  # what the killed worker held, again
        assert all(r.headers["webhook-id"] == r.json["id"] for r in receiver.received)  # same id, every time
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
        await receiver.stop()


async def test_sigterm_lets_the_batch_in_flight_finish(committed_client, committed_database, database_url, tmp_path):
    receiver = await Receiver().start()
    receiver.gate.clear()
    try:
        result = await poster(committed_client)(CREATE, {"i": {"url": receiver.url}})
        assert result.data["webhookEndpointCreate"]["errors"] == [], result.body
        worker = worker_process(database_url, tmp_path / "worker.log")
        await emit_events(committed_database, 20)
        await _until(lambda: len(receiver.received) == 16, timeout=60)  # its attempts in flight, held
        worker.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        assert worker.poll() is None  # still finishing
        receiver.gate.set()
        await _until(lambda: worker.poll() is not None, timeout=30)
        assert worker.returncode == 0, (tmp_path / "worker.log").read_text()
        async with committed_database.session() as session:
            statuses = Counter((await session.execute(text("SELECT status FROM webhook_delivery"))).scalars())
        # The held attempts were answered and recorded before it stopped; the rest wait.
        assert statuses["succeeded"] >= 16 and sum(statuses.values()) == 20, statuses
        assert "stopped after" in (tmp_path / "worker.log").read_text()
    finally:
        await receiver.stop()


async def test_the_server_delivers_in_process_when_asked(committed_database, database_url, tmp_path):
    """`crm serve` with CRM_WEBHOOK_DELIVER=1 (the default of --demo): the lifespan's
    worker delivers an event a mutation caused."""
    from tests.conftest import ADMIN, TEST_SECRET_KEY, token_for
    from tests.process import Server, crm_env

    receiver = await Receiver().start()
    env = crm_env(DATABASE_URL=database_url, CRM_SECRET_KEY=TEST_SECRET_KEY, CRM_WEBHOOK_DELIVER="1",
                  CRM_WEBHOOK_ALLOW_PRIVATE="1", CRM_WEBHOOK_POLL_MS="200", CRM_LOG_LEVEL="warning")
    server = Server(tmp_path / "server.log", env)
    try:
        await asyncio.to_thread(server.wait_ready)
        token = token_for(ADMIN)
        created = await asyncio.to_thread(server.graphql, CREATE, token, {"i": {"url": receiver.url}})
        assert created["data"]["webhookEndpointCreate"]["errors"] == [], created
        merge = """mutation($a: CustomerCreateInput!, $b: CustomerCreateInput!) {
          a: customerCreate(input: $a) { customer { id } errors { code } }
          b: customerCreate(input: $b) { customer { id } errors { code } } }"""
        made = await asyncio.to_thread(server.graphql, merge, token, {"a": {"name": "Acme"}, "b": {"name": "Acme Ltd"}})
        ids = [made["data"][k]["customer"]["id"] for k in ("a", "b")]
        merged = await asyncio.to_thread(server.graphql, """mutation($i: ID!, $f: ID!) { customerMerge(intoId: $i,
            fromId: $f) { errors { code } } }""", token, {"i": ids[0], "f": ids[1]})
        assert merged["data"]["customerMerge"]["errors"] == [], merged
        await _until(lambda: len(receiver.received) == 1, timeout=30)
        assert receiver.received[0].json["type"] == "customer.merged"
    finally:
        await asyncio.to_thread(server.stop)
        await receiver.stop()
