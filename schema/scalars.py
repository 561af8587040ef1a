"""The input scalars, and the one place each decides what it accepts.

Every argument and input field of these types passes through here during variable
coercion or validation, before a resolver or any SQL runs; a refusal is a top-level
BAD_USER_INPUT naming the argument (schema/extensions.py). Domain rules (a required
name, a non-negative amount, two decimals for money) stay in kernel/validation.py.

Supported values:

- String, ID: any Unicode text without NUL (PostgreSQL text cannot hold it) and without
  lone UTF-16 surrogates (U+D800..U+DFFF: not characters, cannot be encoded as UTF-8).
  The global-ID decoder (resolvers/ids.py) takes only the canonical spelling it hands
  out (and at most 200 characters); anything else there is INVALID_ID.
- DateTime: ISO 8601; the instant, converted to UTC, from 1900-01-01T00:00:00Z up to,
  not including, 9000-01-01T00:00:00Z. The range leaves room for the periods, terms and
  windows the domain adds, which would overflow near year 9999.
- Decimal: a string (or a JSON/GraphQL number, read as its decimal text) of ASCII
  digits with an optional leading `-` and an optional `.` with digits after it: at most
  15 digits before the point and 6 after. No spaces, `_`, `+`, exponent, NaN or
  Infinity; `-0` is refused (a negative zero is a typing mistake, never an amount).
- JSON: strings as String, numbers finite and at most 2^53 in size (what every JSON
  reader holds exactly), at most 8 levels of nesting and 1000 values in all.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import dateutil.parser
import strawberry
from graphql import GraphQLID, GraphQLString
from strawberry.scalars import JSON

from resolvers.errors import ApiError, ErrorCode

DATETIME_MIN = datetime(1900, 1, 1, tzinfo=timezone.utc)
DATETIME_END = datetime(9000, 1, 1, tzinfo=timezone.utc)
DECIMAL_INTEGER_DIGITS = 15
DECIMAL_FRACTION_DIGITS = 6
JSON_MAX_NUMBER = 2**53
JSON_MAX_DEPTH = 8
JSON_MAX_VALUES = 1000

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_DECIMAL = re.compile(rf"-?[0-9]{{1,{DECIMAL_INTEGER_DIGITS}}}(\.[0-9]{{1,{DECIMAL_FRACTION_DIGITS}}})?")


class ScalarError(ApiError):
    """A value a scalar refuses; schema/extensions.py adds which argument held it."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.BAD_USER_INPUT, message)


def check_text(value: str, what: str = "Text") -> str:
    found = _UNSTORABLE.search(value)
    if found:
        kind = "a NUL character" if found.group() == "\x00" else "a lone UTF-16 surrogate"
        raise ScalarError(f"{what} cannot contain {kind} (at character {found.start()}).")
    return value


def _string(original):
    def parse(value: Any) -> str:
        return check_text(original(value))
    return parse


def _id(original):
    def parse(value: Any) -> str:
        return check_text(original(value), "An ID")
    return parse


def harden_builtin_scalars() -> None:
    """String and ID are reserved names in graphql-core, so a schema cannot swap in its
    own; their coercion is wrapped instead, once per process (this service serves one
    schema). Idempotent."""
    for scalar, wrap in ((GraphQLString, _string), (GraphQLID, _id)):
        if getattr(scalar, "_crm_hardened", False):
            continue
        scalar.coerce_input_value = wrap(scalar.coerce_input_value)
        scalar.parse_value = scalar.coerce_input_value
        literal = scalar.coerce_input_literal
        scalar.coerce_input_literal = lambda node, _literal=literal, _wrap=wrap: _wrap(_literal)(node)
        scalar._crm_hardened = True


# -- DateTime -------------------------------------------------------------------------

def parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ScalarError("A DateTime is an ISO 8601 string, e.g. 2026-01-31T09:00:00+01:00.")
    check_text(value, "A DateTime")
    try:
        parsed = dateutil.parser.isoparse(value)
    except (ValueError, OverflowError):
        raise ScalarError(f"{value[:40]!r} is not an ISO 8601 date and time, e.g. 2026-01-31T09:00:00+01:00.") from None
    # Compared in UTC without converting: astimezone overflows at the ends of datetime's range.
    offset = parsed.utcoffset()
    naive = parsed.replace(tzinfo=None)
    lowest, end = DATETIME_MIN.replace(tzinfo=None), DATETIME_END.replace(tzinfo=None)
    if offset is not None:
        lowest, end = lowest + offset, end + offset  # the bounds in the value's own offset
    if not lowest <= naive < end:
        raise ScalarError(f"A DateTime is from {DATETIME_MIN:%Y-%m-%dT%H:%M:%SZ} up to, not including, "
                          f"{DATETIME_END:%Y-%m-%dT%H:%M:%SZ} (UTC).")
    return parsed


DateTime = strawberry.scalar(
    name="DateTime",
    description=("Date with time, ISO 8601 with its UTC offset, e.g. 2026-01-31T09:00:00+01:00. Supported: "
                 "1900-01-01T00:00:00Z up to, not including, 9000-01-01T00:00:00Z."),
    serialize=datetime.isoformat,
    parse_value=parse_datetime,
)


# -- Decimal --------------------------------------------------------------------------

def parse_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ScalarError("A Decimal is a string of digits, e.g. \"1234.50\".")
    text = value if isinstance(value, str) else str(value)
    if not _DECIMAL.fullmatch(text):
        raise ScalarError(
            f"{text[:40]!r} is not a decimal: ASCII digits, an optional leading '-' and '.', at most "
            f"{DECIMAL_INTEGER_DIGITS} digits before the point and {DECIMAL_FRACTION_DIGITS} after, e.g. \"1234.50\".")
    number = Decimal(text)
    if text.startswith("-") and not number:
        raise ScalarError("A Decimal cannot be negative zero.")
    return number


DecimalScalar = strawberry.scalar(
    name="Decimal",
    description=(f"Exact decimal number as a string: ASCII digits, optional leading '-', optional '.' "
                 f"(at most {DECIMAL_INTEGER_DIGITS} digits before it and {DECIMAL_FRACTION_DIGITS} after), "
                 f"e.g. \"1234.50\"; no spaces, '_', exponent, NaN or -0."),
    serialize=str,
    parse_value=parse_decimal,
)


# -- JSON -----------------------------------------------------------------------------

def check_json(value: Any) -> Any:
    count = 0

    def walk(item: Any, depth: int) -> None:
        nonlocal count
        count += 1
        if count > JSON_MAX_VALUES:
            raise ScalarError(f"A JSON value holds at most {JSON_MAX_VALUES} values.")
        if depth > JSON_MAX_DEPTH:
            raise ScalarError(f"A JSON value nests at most {JSON_MAX_DEPTH} levels.")
        if isinstance(item, str):
            check_text(item, "JSON text")
        elif isinstance(item, bool) or item is None:
            pass
        elif isinstance(item, (int, float)):
            if (isinstance(item, float) and not math.isfinite(item)) or abs(item) > JSON_MAX_NUMBER:
                raise ScalarError("A JSON number is finite and at most 2^53 in size.")
        elif isinstance(item, dict):
            for key, member in item.items():
                check_text(str(key), "A JSON key")
                walk(member, depth + 1)
        elif isinstance(item, list):
            for member in item:
                walk(member, depth + 1)
        else:
            raise ScalarError("Not a JSON value.")

    walk(value, 1)
    return value


JSONScalar = strawberry.scalar(
    name="JSON",
    description=(f"A JSON value: text without NUL or lone surrogates, finite numbers at most 2^53 in size, "
                 f"at most {JSON_MAX_DEPTH} levels and {JSON_MAX_VALUES} values."),
    specified_by_url="https://ecma-international.org/wp-content/uploads/ECMA-404_2nd_edition_december_2017.pdf",
    serialize=lambda v: v,
    parse_value=check_json,
)

SCALAR_OVERRIDES = {datetime: DateTime, Decimal: DecimalScalar, JSON: JSONScalar}
