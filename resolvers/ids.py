"""Opaque global IDs (`base64("Customer:42")`) and `node(id:)` lookup."""

from __future__ import annotations

import base64
import binascii

from kernel.errors import Code, DomainError
from kernel.pagination import parse_bigint
from kernel.references import global_id
from resolvers.context import DatabaseLoader
from resolvers.errors import ApiError, ErrorCode

# Type name -> loader of that type by primary key. Each domain registers its types.
NODE_LOADERS: dict[str, type[DatabaseLoader]] = {}


def to_global_id(type_name: str, pk: int) -> str:
    return global_id(type_name, pk)


def _parse(global_id: str) -> tuple[str, int] | None:
    if not isinstance(global_id, str) or len(global_id) > 200:
        return None
    try:
        type_name, _, raw_pk = base64.b64decode(global_id, validate=True).decode().partition(":")
        if not (raw_pk.isascii() and raw_pk.isdigit()):
            return None  # signs too: "-1" is the spelling of -1, and no row has it
        pk = parse_bigint(int(raw_pk))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    # One spelling per object: int() would also take " 1", "0001" and non-ASCII digits,
    # and base64 more than one encoding of the same bytes.
    return (type_name, pk) if to_global_id(type_name, pk) == global_id else None


def parse_global_id(global_id: str) -> tuple[str, int] | None:
    """(type name, primary key) of a string in our ID format; None when it is not one."""
    return _parse(global_id)


def from_global_id(global_id: str, *, expected_type: str | None = None) -> tuple[str, int]:
    """(type name, primary key) of an ID in a query argument; INVALID_ID if it is not one
    of ours (or not of the expected type)."""
    parsed = _parse(global_id)
    if parsed is None or parsed[0] not in NODE_LOADERS or (expected_type and parsed[0] != expected_type):
        what = f"a {expected_type} ID" if expected_type else "a valid ID"
        raise ApiError(ErrorCode.INVALID_ID, f"{str(global_id)[:100]!r} is not {what}.")
    return parsed


def decode_id(global_id: str, type_name: str, field: str) -> int:
    """The primary key of an ID in a mutation input; a payload error (INVALID) if the
    string is not an ID of that type."""
    parsed = _parse(global_id)
    if parsed is None or parsed[0] != type_name:
        raise DomainError.one(field, f"Not a {type_name} ID.", Code.INVALID)
    return parsed[1]


def decode_optional_id(global_id: str | None, type_name: str, field: str) -> int | None:
    return None if global_id is None else decode_id(global_id, type_name, field)
