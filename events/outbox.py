"""Writing events in the changing transaction, and reading them back in a safe order.

Writing: `emit` (one) and `emit_all` (a set, for set-based paths such as the bulk
assessment) append to `event` in the caller's transaction, in one statement, and
number each aggregate's events through `event_stream` (whose row stays locked until the
transaction ends, so the numbers follow commit order). The statement also NOTIFYs
`crm_events` (PostgreSQL sends it at commit, once per transaction, and never for a
rolled-back one): subscriptions and delivery workers wake on it, and read the table.

Reading: the feed's order is (transaction_id, id). Positions are handed out before
commit, so a transaction that started earlier can commit later than one that wrote a
higher position. A reader therefore takes only events of transactions older than every
transaction still running (`pg_snapshot_xmin`), which are final: paging by position
never skips a late commit. The cost: while a writing transaction runs, the feed waits
for it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from events.catalogue import payload_of, type_of
from models import Event

CHANNEL = "crm_events"

__all__ = ["CHANNEL", "Emission", "Position", "emit", "emit_all", "page", "position_of"]


@dataclass(frozen=True)
class Emission:
    body: Any  # a payload declared in events.catalogue
    aggregate_id: int
    occurred_at: datetime
    account_id: int | None = None  # the partner account it concerns (None: staff only)


@dataclass(frozen=True, order=True)
class Position:
    """Where an event sits in the feed; everything after it is what a reader has not seen."""

    transaction_id: int
    id: int


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
    INSERT INTO event (type, version, occurred_at, aggregate_type, aggregate_id, sequence, account_id, payload)
    SELECT i.type, i.version, i.occurred_at, i.aggregate_type, i.aggregate_id,
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


# Transactions older than this have all ended: their events are final.
_FINAL = text("(pg_snapshot_xmin(pg_current_snapshot())::text)::bigint")


async def page(session: AsyncSession, *, after: Position | None, limit: int, types: Sequence[str] | None = None,
               account_id: int | None = None, everyone: bool = False, where: Any = None) -> list[Event]:
    """The final events after `after`, in feed order: those `where` selects (a caller's
    row scope) when given, else every account's when `everyone` (staff), else only
    `account_id`'s."""
    statement = select(Event).where(Event.transaction_id < _FINAL)
    if where is not None:
        statement = statement.where(where)
    elif not everyone:
        statement = statement.where(Event.account_id == account_id)
    if after is not None:
        statement = statement.where(or_(Event.transaction_id > after.transaction_id,
                                        and_(Event.transaction_id == after.transaction_id, Event.id > after.id)))
    if types:
        statement = statement.where(Event.type.in_(list(types)))
    statement = statement.order_by(Event.transaction_id, Event.id).limit(limit)
    return list((await session.execute(statement)).scalars())


def position_of(event: Event) -> Position:
    return Position(event.transaction_id, event.id)
