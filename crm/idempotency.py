"""Idempotency keys: a client's retry of a request gives the first request's answer
instead of a second effect (Stripe's model).

A key is per caller and per operation. The first request with a key inserts its row in
the transaction that makes the effect, and stores the result there before committing.
A concurrent request with the same key waits on that insert (PostgreSQL holds a second
insert of a unique value until the first transaction ends), then reads the committed
result; had the first rolled back, the second becomes the first. So one key has one
effect, and a refused or failed request leaves no row: the key may be used again.

The result is stored as references to the rows it consists of, not as a response:
a retry may select other fields, which are then read from those rows as they are now.

Rows older than RETENTION no longer count: a request with such a key takes the row
over as a new first request. Expired rows are deleted a batch at a time whenever a new
key is stored, so the table holds about one retention period of keys.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, inspect, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import Base, IdempotencyKey

RETENTION = timedelta(hours=24)
MAX_KEY_LENGTH = 255
PURGE_BATCH = 100


class KeyReused(Exception):
    """The key was used for this operation with other arguments."""


@dataclass(frozen=True)
class Claim:
    """The outcome of presenting a key: `owned` when this request is the first (it must
    store its result with `complete`), else the first request's `result`."""

    id: int
    owned: bool
    result: Any = None


def key_problem(key: str) -> str | None:
    """Why a key is unusable, or None. Keys are opaque to us; control characters are
    refused because they are almost always a client bug (a stray newline from a file)."""
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        return f"An idempotency key has 1 to {MAX_KEY_LENGTH} characters."
    if not key.isprintable():
        return "An idempotency key has printable characters only (no control characters)."
    return None


def fingerprint(arguments: Any) -> bytes:
    """SHA-256 of the arguments in a canonical form: equal inputs (an instant in two
    time zones, 1.0 and 1.00) have one fingerprint, whatever the order of their fields."""
    canonical = json.dumps(_canonical(arguments), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).digest()


def _canonical(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return _canonical(value.value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        return str(value.normalize()) if value else "0"
    if isinstance(value, datetime):
        return (value.astimezone(timezone.utc) if value.tzinfo else value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    raise TypeError(f"no canonical form for {type(value).__name__}")


async def claim(session: AsyncSession, *, caller: str, operation: str, key: str, fingerprint: bytes) -> Claim:
    """Presents a key in the session's transaction; waits while another transaction
    holds it. Raises KeyReused when the key's live row has another fingerprint."""
    table = IdempotencyKey.__table__
    cutoff = func.now() - RETENTION
    where = (table.c.caller == caller, table.c.operation == operation, table.c.key == key)
    # Three rounds cover the two races: the row purged between our insert and our
    # read, and an expired row taken over by another request before us.
    for _ in range(3):
        inserted = await session.execute(
            insert(table).values(caller=caller, operation=operation, key=key, fingerprint=fingerprint)
            .on_conflict_do_nothing(index_elements=["caller", "operation", "key"]).returning(table.c.id))
        row_id = inserted.scalar_one_or_none()
        if row_id is not None:
            await _purge(session, cutoff)
            return Claim(row_id, owned=True)
        row = (await session.execute(
            select(table.c.id, table.c.fingerprint, table.c.result, (table.c.created_at > cutoff).label("live"))
            .where(*where))).one_or_none()
        if row is None:
            continue
        if row.live:
            if bytes(row.fingerprint) != fingerprint:
                raise KeyReused(key)
            return Claim(row.id, owned=False, result=row.result)
        taken = await session.execute(
            update(table).where(table.c.id == row.id, table.c.created_at <= cutoff)
            .values(fingerprint=fingerprint, result=None, created_at=func.now()).returning(table.c.id))
        if taken.scalar_one_or_none() is not None:
            return Claim(row.id, owned=True)
    raise RuntimeError(f"idempotency key {key!r} kept changing hands")


async def complete(session: AsyncSession, claimed: Claim, result: Any) -> None:
    """Stores the first request's result (from `encode`) with its key."""
    table = IdempotencyKey.__table__
    await session.execute(update(table).where(table.c.id == claimed.id).values(result=result))


async def _purge(session: AsyncSession, cutoff) -> None:
    table = IdempotencyKey.__table__
    # SKIP LOCKED: a row another request is taking over right now is left to it.
    expired = (select(table.c.id).where(table.c.created_at <= cutoff).order_by(table.c.created_at)
               .limit(PURGE_BATCH).with_for_update(skip_locked=True))
    await session.execute(delete(table).where(table.c.id.in_(expired.scalar_subquery())))


def encode(value: Any) -> Any:
    """A domain result as JSON: rows become (model, primary key) references."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, (tuple, list)):
        return {"tuple" if isinstance(value, tuple) else "list": [encode(v) for v in value]}
    state = inspect(value, raiseerr=False)
    if state is not None and getattr(state, "identity", None) is not None:
        return {"row": state.mapper.class_.__name__, "pk": list(state.identity)}
    raise TypeError(f"cannot store a {type(value).__name__} as an idempotent result")


async def decode(session: AsyncSession, value: Any) -> Any:
    """`encode`'s result read back, the rows loaded as they are now (None if deleted)."""
    if not isinstance(value, dict):
        return value
    if "row" in value:
        return await session.get(_models()[value["row"]], tuple(value["pk"]))
    items = [await decode(session, v) for v in value.get("tuple", value.get("list", []))]
    return tuple(items) if "tuple" in value else items


def _models() -> dict[str, type]:
    return {mapper.class_.__name__: mapper.class_ for mapper in Base.registry.mappers}
