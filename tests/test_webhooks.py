"""Webhook deliveries with real parts: a receiver on 127.0.0.1, the real outbox, the
API over the real app, a delivery worker (events.worker) in the test process, commits.

Signatures are checked with the `standardwebhooks` package (the spec's reference
implementation), not with this project's own code."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from events import signing
from events.delivery import delay_bound
from events.worker import Worker
from tests.event_helpers import feed, pk_of, poster, validate
from tests.webhook_helpers import CREATE, FAST, Receiver, emit_events, private_allowed_settings, work_until


@pytest.fixture
def settings():
    return private_allowed_settings()


async def _endpoint(post, url: str, **fields) -> tuple[str, str]:
    result = await post(CREATE, {"i": {"url": url, **fields}})
    assert not result.errors and result.data["webhookEndpointCreate"]["errors"] == [], result.body
    payload = result.data["webhookEndpointCreate"]
    return payload["endpoint"]["id"], payload["secret"]


async def test_deliveries_verify_with_the_standard_webhooks_package(committed_client, committed_database):
    post = poster(committed_client)
    receiver = await Receiver().start()
    try:
        endpoint, secret = await _endpoint(post, receiver.url)
        assert secret.startswith("whsec_")
        await emit_events(committed_database, 3)
        worker = Worker(committed_database, FAST)
        await work_until(worker, lambda: len(receiver.received) == 3)
        events, _ = await feed(post)
        for request, event in zip(receiver.received, events, strict=True):
            verified = Webhook(secret).verify(request.body, request.headers)
            assert verified == {k: v for k, v in event.items() if k != "recordedAt"}
            validate(verified)  # the body is the event as the feed publishes it
            assert request.headers["webhook-id"] == event["id"]
            with pytest.raises(WebhookVerificationError):
                Webhook(signing.new_secret()).verify(request.body, request.headers)
            with pytest.raises(WebhookVerificationError):
                Webhook(secret).verify(request.body.replace(b'"order.cancelled"', b'"order.paid"'), request.headers)
        # A message signed ten minutes ago is refused, however well signed.
        old = int(time.time()) - 600
        body = receiver.received[0].body
        stale = signing.headers(receiver.received[0].headers["webhook-id"], old, body, [secret])
        with pytest.raises(WebhookVerificationError, match="too old"):
            Webhook(secret).verify(body, stale)
        # The secret is shown once: no field of the endpoint holds it.
        again = await post("query($id: ID!) { node(id: $id) { ... on WebhookEndpoint { id url eventTypes active } } }",
                           {"id": endpoint})
        assert secret not in str(again.body)
    finally:
        await receiver.stop()


ROTATE = """mutation($id: ID!) { webhookEndpointRotateSecret(id: $id) { secret endpoint { previousSecretExpiresAt }
  errors { code } } }"""


async def test_during_rotation_both_secrets_verify(committed_client, committed_database):
    post = poster(committed_client)
    receiver = await Receiver().start()
    try:
        endpoint, old = await _endpoint(post, receiver.url)
        rotated = (await post(ROTATE, {"id": endpoint})).data["webhookEndpointRotateSecret"]
        new = rotated["secret"]
        assert new != old and new.startswith("whsec_") and rotated["endpoint"]["previousSecretExpiresAt"]
        await emit_events(committed_database, 1)
        worker = Worker(committed_database, FAST)
        await work_until(worker, lambda: len(receiver.received) == 1)
        request = receiver.received[0]
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        assert Webhook(new).verify(request.body, request.headers) == Webhook(old).verify(request.body, request.headers)
        # After the grace period only the new secret signs.
        async with committed_database.session() as session, session.begin():
            await session.execute(text("UPDATE webhook_endpoint SET previous_secret_expires_at = now() - interval '1 s'"))
        await emit_events(committed_database, 1)
        await work_until(worker, lambda: len(receiver.received) == 2)
        late = receiver.received[1]
        assert len(late.headers["webhook-signature"].split(" ")) == 1
        Webhook(new).verify(late.body, late.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(late.body, late.headers)
    finally:
        await receiver.stop()


LOG = """query($id: ID!) { node(id: $id) { ... on WebhookEndpoint { active consecutiveFailures disabledAt
  deliveries(first: 10) { edges { node { id status attempts nextAttemptAt lastStatusCode lastError deliveredAt
    event { id } attemptLog { attempt attemptedAt statusCode latencyMs error nextAttemptAt } } } } } } }"""


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_a_receiver_failing_three_times_gets_the_event_after_backoff(committed_client, committed_database):
    post = poster(committed_client)
    receiver = await Receiver(statuses=[500, 503, 500]).start()
    policy = replace(FAST, max_attempts=6, disable_after=10)
    try:
        endpoint, _ = await _endpoint(post, receiver.url)
        await emit_events(committed_database, 1)
        worker = Worker(committed_database, policy)
        await work_until(worker, lambda: len(receiver.received) == 4)
        log = (await post(LOG, {"id": endpoint})).data["node"]
        delivery = log["deliveries"]["edges"][0]["node"]
        assert (delivery["status"], delivery["attempts"], delivery["lastStatusCode"], delivery["lastError"]) == \
            ("succeeded", 4, 204, None)
        assert delivery["nextAttemptAt"] is None and delivery["deliveredAt"]
        attempts = delivery["attemptLog"]
        assert [a["statusCode"] for a in attempts] == [500, 503, 500, 204]
        assert [a["attempt"] for a in attempts] == [1, 2, 3, 4]
        for number, (this, following) in enumerate(zip(attempts, attempts[1:]), start=1):
            # next = attempted + latency + uniform(0, min(cap, base * 2^(n-1))): full jitter.
            wait = (_at(this["nextAttemptAt"]) - _at(this["attemptedAt"])).total_seconds() - this["latencyMs"] / 1000
            assert -0.002 <= wait <= delay_bound(policy, number) + 0.002, (number, wait)
            assert this["error"] == f"HTTP {this['statusCode']}."
            assert _at(following["attemptedAt"]) >= _at(this["nextAttemptAt"])  # never before it is due
        assert attempts[-1]["nextAttemptAt"] is None and attempts[-1]["error"] is None
        assert set(receiver.ids()) == {delivery["event"]["id"]}  # the same webhook-id on every attempt
        assert log["consecutiveFailures"] == 0 and log["active"] is True
    finally:
        await receiver.stop()


def test_the_backoff_bounds_double_up_to_the_cap():
    policy = replace(FAST, backoff_base=30.0, backoff_cap=3600.0)
    assert [delay_bound(policy, n) for n in range(1, 10)] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


async def test_a_receiver_down_for_good_ends_in_dead_letter_and_a_disabled_endpoint(committed_client, committed_database):
    post = poster(committed_client)
    receiver = await Receiver().start()
    url = receiver.url
    await receiver.stop()  # nothing listens there any more
    policy = replace(FAST, max_attempts=3, disable_after=3)
    endpoint, _ = await _endpoint(post, url)
    await emit_events(committed_database, 1)
    worker = Worker(committed_database, policy)

    async def dead() -> bool:
        log = (await post(LOG, {"id": endpoint})).data["node"]
        return bool(log["deliveries"]["edges"]) and log["deliveries"]["edges"][0]["node"]["status"] == "dead"

    await work_until(worker, dead)
    log = (await post(LOG, {"id": endpoint})).data["node"]
    delivery = log["deliveries"]["edges"][0]["node"]
    assert delivery["attempts"] == 3 and delivery["nextAttemptAt"] is None
    assert [a["statusCode"] for a in delivery["attemptLog"]] == [None, None, None]
    assert all(a["error"].startswith("ConnectionRefusedError") for a in delivery["attemptLog"])
    assert (log["active"], log["consecutiveFailures"]) == (False, 3) and log["disabledAt"]
    # More events while disabled: nothing is attempted, and the endpoint is not disabled twice.
    await emit_events(committed_database, 2)
    for _ in range(5):
        await worker.step()
    events, _ = await feed(post, types=["webhook.endpoint_disabled"])
    assert [(e["aggregateId"], e["data"]["consecutiveFailures"]) for e in events] == [(endpoint, 3)]
    assert events[0]["data"]["url"] == url
    async with committed_database.session() as session:
        attempts = (await session.execute(text("SELECT count(*) FROM webhook_attempt"))).scalar_one()
    assert attempts == 3

    # Up again and enabled: what waited goes out (the disabled event too), and the dead
    # delivery is redelivered on request, with its webhook-id.
    revived = await Receiver(port=int(url.split(":")[2].split("/")[0])).start()
    try:
        result = await post("""mutation($id: ID!) { webhookEndpointUpdate(id: $id, input: {active: true}) {
            endpoint { active consecutiveFailures disabledAt } errors { code } } }""", {"id": endpoint})
        assert result.data["webhookEndpointUpdate"]["endpoint"] == {"active": True, "consecutiveFailures": 0,
                                                                   "disabledAt": None}
        redelivered = await post("""mutation($id: ID!) { webhookDeliveryRedeliver(id: $id) { delivery { status attempts }
            errors { code } } }""", {"id": delivery["id"]})
        assert redelivered.data["webhookDeliveryRedeliver"] == {"delivery": {"status": "pending", "attempts": 0},
                                                                 "errors": []}
        await work_until(worker, lambda: len(revived.received) == 4)
        assert delivery["event"]["id"] in revived.ids()
        assert sorted(r.json["type"] for r in revived.received) == \
            ["order.cancelled"] * 3 + ["webhook.endpoint_disabled"]
    finally:
        await revived.stop()


async def test_the_address_is_checked_again_at_delivery(committed_client, committed_database):
    """Registered while private addresses were allowed; a worker that does not allow them
    (as a name re-pointed at 127.0.0.1 after registration would meet) sends nothing."""
    post = poster(committed_client)
    receiver = await Receiver().start()
    try:
        endpoint, _ = await _endpoint(post, receiver.url)
        await emit_events(committed_database, 1)
        worker = Worker(committed_database, replace(FAST, allow_private=False))

        async def attempted() -> bool:
            log = (await post(LOG, {"id": endpoint})).data["node"]
            return bool(log["deliveries"]["edges"]) and log["deliveries"]["edges"][0]["node"]["attempts"] == 1

        await work_until(worker, attempted)
        log = (await post(LOG, {"id": endpoint})).data["node"]
        assert "loopback, link-local or private" in log["deliveries"]["edges"][0]["node"]["lastError"]
        assert receiver.received == []
    finally:
        await receiver.stop()


PING = """mutation($id: ID!) { webhookEndpointPing(id: $id) { statusCode latencyMs error errors { code } } }"""


async def test_ping_sends_a_signed_test_message_now(committed_client):
    post = poster(committed_client)
    receiver = await Receiver().start()
    try:
        endpoint, secret = await _endpoint(post, receiver.url)
        answer = (await post(PING, {"id": endpoint})).data["webhookEndpointPing"]
        assert (answer["statusCode"], answer["error"], answer["errors"]) == (204, None, [])
        message = Webhook(secret).verify(receiver.received[0].body, receiver.received[0].headers)
        assert message["type"] == "webhook.ping" and message["data"] == {"endpoint": endpoint}
    finally:
        await receiver.stop()


async def test_an_answer_that_is_not_http_fails_its_attempt_and_no_one_elses(committed_client, committed_database):
    """A receiver answering `HTTP/1.1 99999999999 OK` once made the batch's record fail
    (the status overflowed its column): every delivery of the batch, other tenants'
    too, stayed unrecorded and was sent again at each lease. Now it is a failed attempt
    of its own; the ping says so too."""
    post = poster(committed_client)
    poison, good = await Receiver(status=99999999999).start(), await Receiver().start()
    try:
        bad_endpoint, _ = await _endpoint(post, poison.url)
        good_endpoint, _ = await _endpoint(post, good.url)
        await emit_events(committed_database, 3)
        worker = Worker(committed_database, FAST)
        await work_until(worker, lambda: len(good.received) == 3 and len(poison.received) >= 3)
        for _ in range(3):
            await worker.step()
        async with committed_database.session() as session:
            rows = (await session.execute(text("""SELECT endpoint_id, status, attempts FROM webhook_delivery
                                                  ORDER BY endpoint_id, event_id"""))).all()
            codes = (await session.execute(text("SELECT DISTINCT status_code FROM webhook_attempt"))).scalars().all()
        # (its own three, and the poison endpoint's disabling once it failed enough)
        delivered = {(r.status, r.attempts) for r in rows if r.endpoint_id == pk_of(good_endpoint)}
        assert delivered == {("succeeded", 1)}
        assert all(r.attempts >= 1 for r in rows if r.endpoint_id == pk_of(bad_endpoint))
        assert set(codes) <= {None, 204}
        assert len(good.received) == len([r for r in rows if r.endpoint_id == pk_of(good_endpoint)])
        answer = (await post(PING, {"id": bad_endpoint})).data["webhookEndpointPing"]
        assert (answer["statusCode"], answer["error"]) == (None, "The answer is not HTTP.")
    finally:
        await poison.stop()
        await good.stop()


async def _deliveries(database) -> list[tuple[int, int]]:
    async with database.session() as session:
        return [tuple(r) for r in (await session.execute(text(
            "SELECT endpoint_id, event_id FROM webhook_delivery ORDER BY endpoint_id, event_id"))).all()]


async def test_the_fan_out_is_set_based_restartable_and_never_skips_a_late_commit(committed_client, committed_database):
    from events.delivery import fan_out, fan_out_all
    from events.outbox import advance
    from tests.webhook_helpers import emit_events

    post = poster(committed_client)
    for n in range(5):
        await _endpoint(post, f"http://127.0.0.1:9/{n}")
    await emit_events(committed_database, 7)
    # A fan-out rolled back (a worker dying before its commit) leaves nothing behind ...
    await advance(committed_database)
    async with committed_database.session() as session:
        async with session.begin():
            assert (await fan_out(session)).inserted == 35
            await session.rollback()
    assert await _deliveries(committed_database) == []
    # ... and the next does all of it, whatever its step sizes: 5 endpoints x 7 events, once.
    assert await fan_out_all(committed_database, endpoints=2, batch=3) == 35
    assert await fan_out_all(committed_database) == 0
    assert len(set(await _deliveries(committed_database))) == 35

    # A transaction that wrote first and commits last: its event is not skipped, and
    # does not hold back the one committed meanwhile.
    early = committed_database.session()
    async with early as session:
        transaction = await session.begin()
        from events.outbox import Emission, emit_all
        from events.orders import OrderCancelled
        from decimal import Decimal

        at = datetime.now(timezone.utc)
        await emit_all(session, [Emission(OrderCancelled(order=99, customer=1, total=Decimal("1.00"), currency="CNY",
                                                         status="cancelled", cancelled_at=at), aggregate_id=99,
                                          occurred_at=at)])
        await emit_events(committed_database, 1)  # commits after `early` began
        assert await fan_out_all(committed_database) == 5
        await transaction.commit()
    assert await fan_out_all(committed_database) == 5
    assert len(await _deliveries(committed_database)) == 45
