"""Writing events in the changing transaction, and reading them back in a safe order.

Writing: `emit` (one) and `emit_all` (a set, for set-based paths such as the bulk
assessment) append to `event` in the caller's transaction, in one statement, and
number each aggregate's events through `event_stream` (whose row stays locked until the
transaction ends, so the numbers follow commit order). The statement also NOTIFYs
`crm_events` (PostgreSQL sends it at commit, once per transaction, and never for a
rolled-back one): subscriptions and delivery workers wake on it, and read the table.

Reading: the feed's order is the event's `position`, given after commit by `advance`
(the sequencer, one at a time under an advisory lock), in id order. Per aggregate, id
order is commit order: an event's id is drawn after its transaction took the aggregate's
`event_stream` row, which the previous writer held until it committed. Readers page by
position, so a transaction that commits late is numbered after what readers have
already read: nothing is skipped, nothing waits for unrelated transactions. Every reader
(the feed, the webhook fan-out, subscriptions) calls `advance` before it reads."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from events.catalogue import payload_of, type_of
from models import Event

CHANNEL = "crm_events"

__all__ = ["CHANNEL", "Emission", "Position", "advance", "emit", "emit_all", "page", "position_of"]


@dataclass(frozen=True)
class Emission:
    body: Any  # a payload declared in events.catalogue
    aggregate_id: int
    occurred_at: datetime
    account_id: int | None = None  # the partner account it concerns (None: staff only)


@dataclass(frozen=True, order=True)
class Position:
    """Where an event sits in the feed; everything after it is what a reader has not seen."""

    value: int


_EMIT = text(f"""
WITH input AS (
    SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS i(
        n int, type text, version int, occurred_at timestamptz, aggregate_type text, aggregate_id bigint,
        account_id bigint, payload jsonb)),
counts AS (SELECT aggregate_type, aggregate_id, count(*)::int AS k FROM input GROUP BY aggregate_type, aggregate_id),
stream AS (
    INSERT INTO event_stream (aggregate_type, aggregate_id, last_sequence)
    SELECT aggregate_type, aggregate_id, k FROM counts
    ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET last_sequence = event_stream.last_sequence + excluded.last_sequence
    RETURNING aggregate_type, aggregate_id, last_sequence),
written AS (
    INSERT INTO event (type, version, occurred_at, recorded_at, aggregate_type, aggregate_id, sequence, account_id,
                       payload)
    SELECT i.type, i.version, i.occurred_at, clock_timestamp(), i.aggregate_type, i.aggregate_id,
           s.last_sequence - c.k + row_number() OVER (PARTITION BY i.aggregate_type, i.aggregate_id ORDER BY i.n),
           i.account_id, i.payload
    FROM input i JOIN counts c USING (aggregate_type, aggregate_id) JOIN stream s USING (aggregate_type, aggregate_id)
    ORDER BY i.n
    RETURNING 1)
SELECT count(*), pg_notify('{CHANNEL}', '') FROM written""")


def _row(n: int, emission: Emission) -> dict[str, Any]:
    kind = type_of(emission.body)
    if emission.occurred_at.tzinfo is None:
        raise ValueError("an event's instant carries its offset")
    return {"n": n, "type": kind.name, "version": kind.version, "occurred_at": emission.occurred_at.isoformat(),
            "aggregate_type": kind.aggregate, "aggregate_id": emission.aggregate_id,
            "account_id": emission.account_id, "payload": payload_of(emission.body)}


async def emit_all(session: AsyncSession, emissions: Sequence[Emission]) -> int:
    """Appends the events, in this order, in the session's transaction; how many."""
    if not emissions:
        return 0
    rows = json.dumps([_row(n, e) for n, e in enumerate(emissions)], ensure_ascii=False)
    return (await session.execute(_EMIT, {"rows": rows})).scalar_one()


async def emit(session: AsyncSession, body: Any, *, aggregate_id: int, occurred_at: datetime,
               account_id: int | None = None) -> None:
    await emit_all(session, [Emission(body, aggregate_id, occurred_at, account_id)])


# One sequencer at a time: two would hand out the same numbers.
SEQUENCER_LOCK = 0x63726D5F6576  # "crm_ev"
_WAITING = text("SELECT EXISTS (SELECT 1 FROM event WHERE position IS NULL)")
_LOCK = text(f"SELECT pg_advisory_xact_lock({SEQUENCER_LOCK})")
# A statement of its own after the lock, so its snapshot holds the previous sequencer's numbers.
_NUMBER = text("""
WITH chosen AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM event WHERE position IS NULL ORDER BY id LIMIT :batch),
     last AS (SELECT coalesce(max(position), 0) AS position FROM event)
UPDATE event e SET position = last.position + chosen.n FROM chosen, last WHERE e.id = chosen.id""")


async def advance(database: Any, batch: int = 5_000) -> int:
    """Gives the committed events without a position theirs; how many. Cheap when there
    are none (one index probe, no lock)."""
    numbered = 0
    while True:
        async with database.read_session() as session:
            if not (await session.execute(_WAITING)).scalar_one():
                return numbered
        async with database.session() as session:
            await session.execute(_LOCK)
            count = (await session.execute(_NUMBER, {"batch": batch})).rowcount
            await session.commit()
        numbered += count
        if count < batch:
            return numbered


async def page(session: AsyncSession, *, after: Position | None, limit: int, types: Sequence[str] | None = None,
               account_id: int | None = None, everyone: bool = False, where: Any = None) -> list[Event]:
    """The events after `after` in feed order (those `advance` numbered): those `where`
    selects (a caller's row scope) when given, else every account's when `everyone`
    (staff), else only `account_id`'s."""
    statement = select(Event).where(Event.position > (after.value if after is not None else 0))
    if where is not None:
        statement = statement.where(where)
    elif not everyone:
        statement = statement.where(Event.account_id == account_id)
    if types:
        statement = statement.where(Event.type.in_(list(types)))
    statement = statement.order_by(Event.position).limit(limit)
    return list((await session.execute(statement)).scalars())


def position_of(event: Event) -> Position:
    if event.position is None:
        raise ValueError("this event has no place in the feed yet (events.outbox.advance)")
    return Position(event.position)
