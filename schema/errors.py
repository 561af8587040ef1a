"""Typed mutation errors: every payload carries `errors: [<Domain>Error!]!`."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from typing import TypeVar

from crm.errors import FieldError

E = TypeVar("E")


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def payload_errors(
    errors: Iterable[FieldError], error_type: Callable[..., E], code_enum: type[enum.Enum]
) -> list[E]:
    """Domain FieldErrors as a payload's typed errors, field names as the client sent them."""
    return [
        error_type(field=camel(e.field) if e.field else None, message=e.message, code=code_enum(e.code))
        for e in errors
    ]
