"""Domain errors: what a caller did wrong, said in plain values (no GraphQL here).

Codes are lower-case strings. Every domain has its own code enum (`CustomerErrorCode`,
`OrderErrorCode`, ...) built from the common codes below plus its own, so a client
switching on a payload's codes sees exactly the codes that mutation can produce.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Code(enum.StrEnum):
    REQUIRED = "required"
    INVALID = "invalid"  # malformed value, or an ID that is not one of ours / of the wrong type
    TOO_LONG = "too_long"
    TOO_MANY = "too_many"
    OUT_OF_RANGE = "out_of_range"  # negative money or quantity, a rate outside [0, 1)
    UNKNOWN_CURRENCY = "unknown_currency"
    NOT_FOUND = "not_found"  # a well-formed ID of nothing (or of something archived away)
    ARCHIVED = "archived"  # the object, or one it refers to, is archived
    NO_CHANGE = "no_change"  # archive what is archived, complete what is done, ...


def domain_codes(name: str, *extra: str) -> type[enum.StrEnum]:
    """A domain's error-code enum: the common codes plus its own."""
    members = {code.name: code.value for code in Code}
    members.update({value.upper(): value for value in extra})
    return enum.StrEnum(name, members)  # type: ignore[return-value]


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field. `code` is a value of the domain's code enum.
    `related` is (type, id) of the object the problem is about: the existing duplicate,
    the inactive product, ... `details` are values a program may act on without
    parsing the message (the amount due of a fee too low), by name; a payload's error
    type shows those it declares."""

    field: str | None
    message: str
    code: str
    related: tuple[str, int] | None = field(default=None, compare=False)
    details: dict[str, Any] | None = field(default=None, compare=False)


class DomainError(Exception):
    """Expected failure of a domain call; nothing was written."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in errors))
        self.errors = errors

    @classmethod
    def one(cls, field: str | None, message: str, code: str, related: tuple[str, int] | None = None,
            details: dict[str, Any] | None = None) -> DomainError:
        return cls([FieldError(field, message, code, related, details)])


def not_found(field: str, what: str) -> DomainError:
    return DomainError.one(field, f"No {what} has this ID.", Code.NOT_FOUND)


def require(row: Any, field: str, what: str, *, live: bool = True) -> Any:
    """The row, or NOT_FOUND; ARCHIVED when `live` and the row is archived."""
    if row is None:
        raise not_found(field, what)
    if live and getattr(row, "archived_at", None) is not None:
        raise DomainError.one(field, f"This {what} is archived; restore it first.", Code.ARCHIVED)
    return row


# The unique keys a concurrent duplicate can reach, each with the field and message its
# domain gives a duplicate (code "duplicate", which each of these domains declares). The
# create paths check first under a lock (kernel.references.ensure_unique); this is the
# one safety net behind them, so a path that misses the lock answers DUPLICATE, never
# INTERNAL_SERVER_ERROR.
UNIQUE_KEYS: dict[str, tuple[str, str]] = {
    "uq_channel_name": ("name", "Another channel has this name."),
    "uq_product_sku": ("sku", "Another product has this SKU."),
    "uq_segment_name": ("name", "Another segment has this name."),
    "uq_app_user_email": ("email", "Another user has this email address."),
    "uq_programme_name": ("name", "Another programme has this name."),
    "uq_sales_order_source_external_reference": ("external_reference",
                                                 "An order with this source and reference exists."),
}


def duplicate_of(error: BaseException) -> DomainError | None:
    """The typed DUPLICATE for a unique violation of a key in UNIQUE_KEYS (an
    IntegrityError from the driver), else None."""
    cause = getattr(error, "orig", None)
    while cause is not None and getattr(cause, "constraint_name", None) is None:
        cause = cause.__cause__
    known = UNIQUE_KEYS.get(getattr(cause, "constraint_name", None) or "")
    return DomainError.one(known[0], known[1], "duplicate") if known else None
