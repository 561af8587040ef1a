"""Every event type, declared once: a frozen dataclass whose fields are the payload.

    @event("order.placed", aggregate="Order")
    class OrderPlaced:
        '''An order was placed.'''
        order: Annotated[int, Ref("Order")]
        total: Decimal

From the declaration come the payload's JSON (`payload_of`: references as the API's
global IDs, money as strings, instants as ISO 8601 with offset) and its JSON Schema
(`json_schema`, written to docs/events/ by `crm export-event-schemas` and checked by a
test), so what is emitted, documented and validated cannot drift apart. A payload's
meaning may grow (new optional fields) within a version; a change of meaning is a new
version of the type."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from kernel.references import global_id, render_refs

__all__ = ["CATALOGUE", "EventType", "Ref", "event", "json_schema", "payload_of", "type_of"]


@dataclass(frozen=True)
class Ref:
    """The field holds a row's primary key and is published as that row's global ID."""

    type_name: str


@dataclass(frozen=True)
class EventType:
    name: str  # "tier.promoted": <aggregate or domain>.<what happened>
    version: int
    aggregate: str  # the API type whose global ID the event is about
    description: str
    payload: type
    # Who reads it besides staff (the feed's and webhooks' scope: Emission.account_id).
    audience: str = "staff only"


CATALOGUE: dict[str, EventType] = {}


def event(name: str, *, aggregate: str, version: int = 1, audience: str = "staff only"):
    """Declares an event type (see the module's docstring); `audience` says which partner
    account reads it (docs/events.md)."""

    def declare(cls: type) -> type:
        if name in CATALOGUE:
            raise ValueError(f"event type {name} is declared twice")
        payload = dataclass(frozen=True, kw_only=True)(cls)
        CATALOGUE[name] = EventType(name, version, aggregate, " ".join((cls.__doc__ or "").split()), payload, audience)
        return payload

    return declare


def type_of(body: Any) -> EventType:
    found = next((t for t in CATALOGUE.values() if t.payload is type(body)), None)
    if found is None:
        raise TypeError(f"{type(body).__name__} is not a declared event payload")
    return found


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _json(value: Any, hint: Any) -> Any:
    if value is None:
        return None
    origin = get_origin(hint)
    if origin is Annotated:
        base, *marks = get_args(hint)
        ref = next((m for m in marks if isinstance(m, Ref)), None)
        return global_id(ref.type_name, value) if ref is not None else _json(value, base)
    if origin in (typing.Union, types.UnionType):
        return _json(value, next(a for a in get_args(hint) if a is not type(None)))
    if origin in (list, tuple):
        item = get_args(hint)[0]
        return [_json(v, item) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("an event's instants carry their offset")
        return value.isoformat()
    if dataclasses.is_dataclass(value):
        return _object(value)
    if isinstance(value, dict):
        return render_refs(value)  # stored JSON (an explanation): its references as global IDs
    return value  # str, int, bool


@functools.cache
def _fields(cls: type) -> tuple[tuple[str, str, Any], ...]:
    """(attribute, published key, type hint) per field; resolving the hints evaluates
    the annotations' text, once per class rather than once per event."""
    hints = get_type_hints(cls, include_extras=True)
    return tuple((f.name, _camel(f.name), hints[f.name]) for f in dataclasses.fields(cls))


def _object(value: Any) -> dict[str, Any]:
    return {key: _json(getattr(value, name), hint) for name, key, hint in _fields(type(value))}


def payload_of(body: Any) -> dict[str, Any]:
    """The payload as published: camelCase keys, as the API spells its fields."""
    type_of(body)
    return _object(body)


def _schema(hint: Any) -> dict[str, Any]:
    origin = get_origin(hint)
    if origin is Annotated:
        base, *marks = get_args(hint)
        ref = next((m for m in marks if isinstance(m, Ref)), None)
        if ref is not None:
            return {"type": "string", "description": f"The global ID of a {ref.type_name}."}
        return _schema(base)
    if origin in (typing.Union, types.UnionType):
        inner = _schema(next(a for a in get_args(hint) if a is not type(None)))
        return {"anyOf": [inner, {"type": "null"}]}
    if origin in (list, tuple):
        return {"type": "array", "items": _schema(get_args(hint)[0])}
    if origin is dict or hint is dict:
        return {"type": "object"}
    if isinstance(hint, type) and issubclass(hint, Enum):
        return {"type": "string", "enum": [m.value for m in hint]}
    if hint is Decimal:
        return {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "description": "An exact decimal."}
    if hint is datetime:
        return {"type": "string", "format": "date-time"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is str:
        return {"type": "string"}
    if dataclasses.is_dataclass(hint):
        return _object_schema(hint)
    raise TypeError(f"no JSON Schema for {hint!r}")


def _object_schema(cls: type) -> dict[str, Any]:
    hints = get_type_hints(cls, include_extras=True)
    fields = dataclasses.fields(cls)
    return {"type": "object", "additionalProperties": False,
            "properties": {_camel(f.name): _schema(hints[f.name]) for f in fields},
            "required": [_camel(f.name) for f in fields]}


def json_schema(kind: EventType) -> dict[str, Any]:
    """The JSON Schema (2020-12) of the whole event as the feed and webhooks publish it."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": kind.name, "description": kind.description,
        "type": "object", "required": ["id", "type", "version", "occurredAt", "aggregateId", "sequence", "data"],
        "properties": {
            "id": {"type": "string", "description": "The event's stable ID (a global ID); webhook-id."},
            "type": {"const": kind.name}, "version": {"const": kind.version},
            "occurredAt": {"type": "string", "format": "date-time"},
            "aggregateId": {"type": "string", "description": f"The global ID of the {kind.aggregate} it is about."},
            "sequence": {"type": "integer", "description": "1, 2, ... per aggregate, in commit order."},
            "data": _object_schema(kind.payload),
        },
    }
