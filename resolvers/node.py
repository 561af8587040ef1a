"""Opaque global IDs (`base64("Customer:42")`) and `node(id:)` lookup."""

from __future__ import annotations

import base64
import binascii

from crm.pagination import parse_bigint
from resolvers.context import Context, DatabaseLoader
from resolvers.errors import ApiError, ErrorCode

# Type name -> loader of that type by primary key. Each domain registers its types.
NODE_LOADERS: dict[str, type[DatabaseLoader]] = {}


def to_global_id(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def from_global_id(global_id: str, *, expected_type: str | None = None) -> tuple[str, int]:
    """(type name, primary key); INVALID_ID when the string is not one of our IDs."""
    invalid = ApiError(ErrorCode.INVALID_ID, f"{global_id[:100]!r} is not a valid ID.")
    if len(global_id) > 200:
        raise invalid
    try:
        type_name, _, raw_pk = base64.b64decode(global_id, validate=True).decode().partition(":")
        pk = parse_bigint(int(raw_pk))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid from None
    if type_name not in NODE_LOADERS or (expected_type is not None and type_name != expected_type):
        raise invalid
    return type_name, pk


async def resolve_node(context: Context, global_id: str) -> tuple[str, object] | None:
    type_name, pk = from_global_id(global_id)
    row = await context.loader(NODE_LOADERS[type_name]).load(pk)
    return None if row is None else (type_name, row)
