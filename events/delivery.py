"""Delivering the outbox's events to webhook endpoints, at least once.

1. Fan-out (`fan_out`): per endpoint, a position in the feed; one statement takes the
   events after it (numbered by events.outbox.advance, which `fan_out_all` runs first:
   a late commit is numbered after the position, never skipped), inserts a delivery for each
   one the endpoint subscribes to, and moves the position, in one transaction: a worker
   that dies before commit leaves the position where it was, and the next fan-out does
   the same work (the unique (endpoint, event) makes it idempotent). Endpoints are
   locked with SKIP LOCKED, so workers fan out different endpoints at once.
2. Claim (`claim`): due deliveries of enabled endpoints, FOR UPDATE SKIP LOCKED, get a
   lease (`claimed_until`) and a claim token, and the claim commits: any number of
   workers share the work and none takes a delivery another holds.
3. Attempt (`attempt`): the event's JSON, signed (events.signing) with the endpoint's
   secrets, POSTed (events.destinations.post, the address checked again); the
   `webhook-id` is the event's ID, the same on every attempt and redelivery.
4. Record (`record`): one transaction per batch writes each result (only while the
   claim token is still the worker's), the attempt log, the next attempt (exponential
   backoff with full jitter, `next_delay`), dead letter after `max_attempts`, and the
   endpoints' failure counts; an endpoint that reaches `disable_after` failed attempts
   in a row is disabled and `webhook.endpoint_disabled` is emitted, once.

A worker killed between 2 and 4 loses nothing: its lease expires and the delivery is
claimed again (a receiver may then see the same webhook-id twice, and de-duplicates)."""

from __future__ import annotations

import json
import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from events import destinations, signing
from events.outbox import Emission, advance, emit_all
from events.webhooks import WebhookEndpointDisabled
from kernel.references import global_id


@dataclass(frozen=True)
class DeliveryPolicy:
    """How deliveries are made and retried (core.settings: CRM_WEBHOOK_*)."""

    backoff_base: float = 30.0  # seconds: the first retry's upper bound
    backoff_cap: float = 6 * 3600.0  # seconds: no retry waits longer
    max_attempts: int = 12  # then the delivery is dead (dead letter)
    disable_after: int = 30  # failed attempts in a row that disable an endpoint
    timeout: float = 10.0  # seconds per attempt, connection to answer
    max_body: int = 64 * 1024  # bytes of an answer read at most
    lease: float = 120.0  # seconds a claim holds a delivery
    batch: int = 50  # deliveries claimed at once
    concurrency: int = 16  # attempts in flight per worker
    allow_private: bool = False  # CRM_WEBHOOK_ALLOW_PRIVATE
    rotation_grace: float = 24 * 3600.0  # seconds the previous secret still signs

    @classmethod
    def of(cls, settings: Any) -> DeliveryPolicy:
        """From core.settings.Settings' webhook_* values."""
        return cls(backoff_base=settings.webhook_backoff_base_ms / 1000, backoff_cap=float(settings.webhook_backoff_cap_seconds),
                   max_attempts=settings.webhook_max_attempts, disable_after=settings.webhook_disable_after,
                   timeout=settings.webhook_timeout_ms / 1000, lease=float(settings.webhook_lease_seconds),
                   allow_private=settings.webhook_allow_private,
                   rotation_grace=settings.webhook_rotation_grace_hours * 3600.0)


def delay_bound(policy: DeliveryPolicy, attempts: int) -> float:
    """The upper bound of the wait after the `attempts`-th failed attempt (1, 2, ...):
    min(cap, base * 2^(attempts - 1))."""
    return min(policy.backoff_cap, policy.backoff_base * 2 ** (attempts - 1))


def next_delay(policy: DeliveryPolicy, attempts: int, rng: random.Random | None = None) -> float:
    """Full jitter: uniform in [0, delay_bound], so retries of many deliveries that failed
    together spread out instead of arriving together."""
    return (rng or random).uniform(0, delay_bound(policy, attempts))


# --- fan-out ------------------------------------------------------------------------------

_FAN_OUT = text("""
WITH ep AS (
    SELECT id, account_id, event_types, position
    FROM webhook_endpoint WHERE active AND disabled_at IS NULL AND id > :after
    ORDER BY id LIMIT :endpoints FOR UPDATE SKIP LOCKED),
scanned AS (
    SELECT ep.id AS endpoint_id, ep.event_types, ev.id AS event_id, ev.position, ev.type
    FROM ep CROSS JOIN LATERAL (
        SELECT e.id, e.position, e.type FROM event e
        WHERE ep.account_id IS NULL AND e.position > ep.position
        ORDER BY e.position LIMIT :batch) ev
    UNION ALL
    SELECT ep.id, ep.event_types, ev.id, ev.position, ev.type
    FROM ep CROSS JOIN LATERAL (
        SELECT e.id, e.position, e.type FROM event e
        WHERE e.account_id = ep.account_id AND e.position > ep.position
        ORDER BY e.position LIMIT :batch) ev),
inserted AS (
    INSERT INTO webhook_delivery (endpoint_id, event_id)
    SELECT endpoint_id, event_id FROM scanned
    WHERE cardinality(event_types) = 0 OR type = ANY(event_types)
    ORDER BY position
    ON CONFLICT (endpoint_id, event_id) DO NOTHING
    RETURNING 1),
last AS (
    SELECT endpoint_id, max(position) AS position, count(*) AS n FROM scanned GROUP BY endpoint_id),
moved AS (
    UPDATE webhook_endpoint w SET position = last.position
    FROM last WHERE w.id = last.endpoint_id RETURNING 1)
SELECT (SELECT count(*) FROM inserted) AS inserted, coalesce((SELECT max(n) FROM last), 0) AS fullest,
       (SELECT count(*) FROM moved) AS moved, (SELECT max(id) FROM ep) AS last_endpoint""")


@dataclass(frozen=True)
class FanOut:
    inserted: int  # deliveries
    full: bool  # an endpoint had `batch` events or more: the same endpoints again
    last_endpoint: int | None  # the highest endpoint id taken; None: none after `after`


async def fan_out(session: AsyncSession, *, after: int = 0, batch: int = 1000, endpoints: int = 200) -> FanOut:
    """One step of the fan-out over the endpoints with ids above `after` (at most
    `endpoints` of them), in the caller's transaction."""
    row = (await session.execute(_FAN_OUT, {"batch": batch, "endpoints": endpoints, "after": after})).one()
    return FanOut(row.inserted, row.fullest >= batch, row.last_endpoint)


async def fan_out_all(database: Any, **options: Any) -> int:
    """Numbers the committed events (events.outbox.advance), then fans out every
    endpoint's waiting events, one transaction per step; how many deliveries it inserted."""
    await advance(database)
    after, inserted = 0, 0
    while True:
        async with database.session() as session, session.begin():
            step = await fan_out(session, after=after, **options)
        inserted += step.inserted
        if step.last_endpoint is None:
            return inserted
        if not step.full:
            after = step.last_endpoint


# Where a new endpoint starts: after every event numbered now (it receives what is
# numbered from then on: what commits later, and what committed since the last reader).
START_POSITION = text("SELECT coalesce(max(position), 0) FROM event")


# --- claim --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    endpoint_id: int
    event_id: int
    attempts: int  # made before this one
    url: str
    secrets: tuple[str, ...]
    body: bytes
    message_id: str


_CLAIM = text("""
WITH due AS (
    SELECT d.id FROM webhook_delivery d JOIN webhook_endpoint w ON w.id = d.endpoint_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND (d.claimed_until IS NULL OR d.claimed_until < now())
      AND w.active AND w.disabled_at IS NULL
    ORDER BY d.next_attempt_at, d.id LIMIT :batch
    FOR UPDATE OF d SKIP LOCKED)
UPDATE webhook_delivery d SET claimed_until = now() + make_interval(secs => :lease), claim_token = :token
FROM due, webhook_endpoint w, event e
WHERE d.id = due.id AND w.id = d.endpoint_id AND e.id = d.event_id
RETURNING d.id, d.endpoint_id, d.event_id, d.attempts, w.url, w.secret, w.previous_secret,
          w.previous_secret_expires_at > now() AS previous_valid, e.type, e.version, e.occurred_at, e.aggregate_type,
          e.aggregate_id, e.sequence, e.payload""")


def message_of(row: Any) -> dict[str, Any]:
    """The event as the feed publishes it (events.catalogue.json_schema)."""
    return {"id": global_id("Event", row.event_id), "type": row.type, "version": row.version,
            "occurredAt": row.occurred_at.isoformat(), "aggregateId": global_id(row.aggregate_type, row.aggregate_id),
            "sequence": row.sequence, "data": row.payload}


async def claim(session: AsyncSession, policy: DeliveryPolicy, token: str) -> list[Claimed]:
    """Claims up to `policy.batch` due deliveries for `token`, in the caller's transaction
    (commit it before delivering, so the lease is visible to the other workers)."""
    rows = (await session.execute(_CLAIM, {"batch": policy.batch, "lease": policy.lease, "token": token})).all()
    out = []
    for row in sorted(rows, key=lambda r: r.id):
        message = message_of(row)
        keys = (row.secret,) + ((row.previous_secret,) if row.previous_secret and row.previous_valid else ())
        out.append(Claimed(row.id, row.endpoint_id, row.event_id, row.attempts, row.url, keys,
                           json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode(), message["id"]))
    return out


def new_token() -> str:
    return secrets.token_hex(12)


# --- attempt ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    claimed: Claimed
    attempted_at: datetime
    response: destinations.Response


async def attempt(claimed: Claimed, policy: DeliveryPolicy) -> Outcome:
    at = datetime.now(timezone.utc)
    headers = signing.headers(claimed.message_id, int(at.timestamp()), claimed.body, claimed.secrets)
    response = await destinations.post(claimed.url, claimed.body, headers, allow_private=policy.allow_private,
                                       timeout=policy.timeout, max_body=policy.max_body)
    return Outcome(claimed, at, response)


# --- record -------------------------------------------------------------------------------

_RECORD = text("""
WITH input AS (
    SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS i(
        delivery_id bigint, attempt int, attempted_at timestamptz, status_code int, latency_ms int, error text,
        ok boolean, dead boolean, next_attempt_at timestamptz)),
updated AS (
    UPDATE webhook_delivery d SET
        attempts = i.attempt, last_attempt_at = i.attempted_at, last_status_code = i.status_code,
        last_latency_ms = i.latency_ms, last_error = i.error, claimed_until = NULL, claim_token = NULL,
        status = CASE WHEN i.ok THEN 'succeeded' WHEN i.dead THEN 'dead' ELSE 'pending' END,
        delivered_at = CASE WHEN i.ok THEN i.attempted_at ELSE d.delivered_at END,
        next_attempt_at = i.next_attempt_at
    FROM input i WHERE d.id = i.delivery_id AND d.claim_token = :token
    RETURNING d.id, d.endpoint_id),
logged AS (
    INSERT INTO webhook_attempt (delivery_id, attempt, attempted_at, status_code, latency_ms, error, next_attempt_at, worker)
    SELECT i.delivery_id, i.attempt, i.attempted_at, i.status_code, i.latency_ms, i.error, i.next_attempt_at, :worker
    FROM input i JOIN updated u ON u.id = i.delivery_id
    RETURNING 1)
SELECT (SELECT count(*) FROM updated), (SELECT count(*) FROM logged)""")

_FAILURES = text("""
WITH input AS (SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS i(endpoint_id bigint, succeeded boolean,
                                                                           failed int))
UPDATE webhook_endpoint w SET consecutive_failures = CASE WHEN i.succeeded THEN 0 ELSE w.consecutive_failures + i.failed END
FROM input i WHERE w.id = i.endpoint_id
RETURNING w.id""")

_DISABLE = text("""
UPDATE webhook_endpoint SET active = false, disabled_at = now(),
    disabled_reason = format('%s failed delivery attempts in a row', consecutive_failures)
WHERE id = ANY(:ids) AND consecutive_failures >= :limit AND disabled_at IS NULL
RETURNING id, account_id, url, consecutive_failures, disabled_at""")


async def record(session: AsyncSession, outcomes: list[Outcome], policy: DeliveryPolicy, token: str,
                 worker: str | None = None, rng: random.Random | None = None) -> int:
    """Writes a batch's results in the caller's transaction; how many were still the
    worker's to write (a result whose lease ran out and was claimed again is dropped:
    the other claim's attempt stands)."""
    if not outcomes:
        return 0
    rows, per_endpoint = [], {}
    for outcome in sorted(outcomes, key=lambda o: o.claimed.delivery_id):
        number = outcome.claimed.attempts + 1
        ok = outcome.response.ok
        dead = not ok and number >= policy.max_attempts
        retry_at = None if ok or dead else \
            outcome.attempted_at + timedelta(seconds=outcome.response.latency_ms / 1000 + next_delay(policy, number, rng))
        rows.append({"delivery_id": outcome.claimed.delivery_id, "attempt": number,
                     "attempted_at": outcome.attempted_at.isoformat(), "status_code": outcome.response.status,
                     "latency_ms": outcome.response.latency_ms, "error": (outcome.response.error or None) and
                     outcome.response.error[:500], "ok": ok, "dead": dead,
                     "next_attempt_at": retry_at.isoformat() if retry_at else None})
        succeeded, failed = per_endpoint.get(outcome.claimed.endpoint_id, (False, 0))
        per_endpoint[outcome.claimed.endpoint_id] = (succeeded or ok, failed + (0 if ok else 1))
    written = (await session.execute(_RECORD, {"rows": json.dumps(rows), "token": token, "worker": worker})).one()[0]
    counts = [{"endpoint_id": e, "succeeded": s, "failed": f} for e, (s, f) in sorted(per_endpoint.items())]
    await session.execute(_FAILURES, {"rows": json.dumps(counts)})
    failing = [e for e, (s, f) in per_endpoint.items() if not s]
    if failing:
        disabled = (await session.execute(_DISABLE, {"ids": failing, "limit": policy.disable_after})).all()
        await emit_all(session, [Emission(WebhookEndpointDisabled(
            endpoint=row.id, url=row.url, consecutive_failures=row.consecutive_failures, disabled_at=row.disabled_at),
            aggregate_id=row.id, occurred_at=row.disabled_at, account_id=row.account_id) for row in disabled])
    return written


async def ping(endpoint: Any, policy: DeliveryPolicy) -> destinations.Response:
    """A signed test message (`webhook.ping`, not an event: nothing is logged), sent now."""
    at = datetime.now(timezone.utc)
    message_id = f"ping_{secrets.token_hex(12)}"
    body = json.dumps({"id": message_id, "type": "webhook.ping", "occurredAt": at.isoformat(),
                       "data": {"endpoint": global_id("WebhookEndpoint", endpoint.id)}}, separators=(",", ":")).encode()
    keys = [endpoint.secret] + ([endpoint.previous_secret] if endpoint.previous_secret and
                                endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > at else [])
    return await destinations.post(endpoint.url, body, signing.headers(message_id, int(at.timestamp()), body, keys),
                                   allow_private=policy.allow_private, timeout=policy.timeout, max_body=policy.max_body)
