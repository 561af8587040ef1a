"""Loading the rows an input refers to, with the typed error when they are not usable."""

from __future__ import annotations

import base64
from typing import Any, TypeVar

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import Code, DomainError, not_found, require
from models import Channel, Customer, CustomerClassification, User

M = TypeVar("M")


async def lock_key(session: AsyncSession, namespace: str, key: str) -> None:
    """Serialises, until the transaction ends, every writer of the same unique key (a
    channel name, a SKU, an import reference), so "check, then write" cannot race: the
    second writer waits, then sees the first one's row. A hash collision between two keys
    only makes them wait for each other."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"{namespace}:{key}", 0))))


async def ensure_unique(session: AsyncSession, model: Any, normalised: Any, key: str, exclude_id: int | None, *,
                        field: str, message: str, code: str) -> None:
    """DUPLICATE naming the holder when another row of `model` has `key` in its unique,
    normalised column (e.g. lower(name)); the key stays locked until the transaction ends."""
    await lock_key(session, f"{model.__tablename__}.{field}", key)
    statement = select(model.id).where(normalised == key)
    if exclude_id is not None:
        statement = statement.where(model.id != exclude_id)
    existing = (await session.execute(statement.limit(1))).scalar_one_or_none()
    if existing is not None:
        raise DomainError.one(field, message, code, (model.__name__, existing))


async def get_row(session: AsyncSession, model: type[M], pk: int, *, lock: bool = False) -> M | None:
    statement = select(model).where(model.id == pk)  # type: ignore[attr-defined]
    if lock:
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def live(session: AsyncSession, model: type[M], pk: int, field: str, what: str, *, lock: bool = False) -> M:
    """The row, not archived; NOT_FOUND / ARCHIVED otherwise."""
    return require(await get_row(session, model, pk, lock=lock), field, what)


async def active_user(session: AsyncSession, pk: int, field: str) -> User:
    user = await get_row(session, User, pk)
    if user is None:
        raise not_found(field, "user")
    if not user.active:
        raise DomainError.one(field, "This user is deactivated.", Code.ARCHIVED)
    return user


async def live_channel(session: AsyncSession, pk: int, field: str) -> Channel:
    return await live(session, Channel, pk, field, "channel")


async def live_partner(session: AsyncSession, pk: int, field: str) -> Customer:
    """A live customer classified as a partner (who may refer customers or register deals)."""
    partner = await live(session, Customer, pk, field, "customer")
    if partner.classification != CustomerClassification.PARTNER:
        raise DomainError.one(field, f"{partner.name} is not a partner.", "not_a_partner")
    return partner


# The database's time zones, read once per process and database.
_zones: dict[str, frozenset[str]] = {}


async def database_zones(session: AsyncSession) -> frozenset[str]:
    """The zone names the database knows (its tz data can differ from Python's: Python
    has "localtime", for one), for Checker.time_zone."""
    key = str(session.get_bind().engine.url)
    zones = _zones.get(key)
    if zones is None:
        zones = _zones[key] = frozenset((await session.execute(text("SELECT name FROM pg_timezone_names"))).scalars())
    return zones


def snapshot(row: Any) -> dict[str, Any]:
    """The row's columns as JSON-ready values (audit records)."""
    out = {}
    for column in row.__table__.columns:
        value = getattr(row, column.key)
        out[column.key] = value.isoformat() if hasattr(value, "isoformat") else (
            str(value) if value is not None and not isinstance(value, (int, bool, str, list, dict)) else value
        )
    return out


def global_id(type_name: str, pk: int) -> str:
    """The API's opaque ID of a row (`base64("Customer:42")`): written once here, so the
    API (resolvers.ids) and what leaves the process without it (events, webhooks) agree."""
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def ref(type_name: str, pk: int | None) -> dict[str, Any] | None:
    """A typed reference to another object, for stored JSON (explanations): the API
    renders it as that object's global ID, so domain code stays free of the API's IDs."""
    return None if pk is None else {"$ref": type_name, "id": pk}


def render_refs(value: Any) -> Any:
    """Stored JSON with its typed references ({"$ref": type, "id": pk}, `ref`) as the
    API's global IDs: how explanations leave the process, over the API or in events."""
    if isinstance(value, dict):
        if set(value) == {"$ref", "id"} and isinstance(value["id"], int):
            return global_id(value["$ref"], value["id"])
        return {key: render_refs(item) for key, item in value.items()}
    if isinstance(value, list):
        return [render_refs(item) for item in value]
    return value
