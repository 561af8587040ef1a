"""Typed mutation errors: every payload carries `errors: [<Domain>Error!]!`."""

from __future__ import annotations

import enum
from typing import Any

import strawberry


def error_type(name: str, code_enum: type[enum.Enum], domain: str,
               details: dict[str, tuple[Any, str]] | None = None) -> Any:
    """`<Domain>Error { field, message, code, relatedId }` for one domain's code enum.
    `details`: further nullable fields, name -> (type, description), filled from the
    domain error's `details` of that name (kernel.errors.FieldError)."""
    namespace = {
        "__annotations__": {"field": str | None, "message": str, "code": code_enum, "related_id": strawberry.ID | None},
        "__doc__": f"A problem with the input of a {domain} mutation; nothing was changed.",
        "field": strawberry.field(description="The input field at fault, as the client named it (`lines.0.quantity`); null for the whole input."),
        "message": strawberry.field(description="What is wrong, for people."),
        "code": strawberry.field(description="What is wrong, for programs."),
        "related_id": strawberry.field(
            default=None,
            description="The object the problem is about, when there is one: the existing duplicate, the inactive product, ...",
        ),
    }
    for detail, (annotation, description) in (details or {}).items():
        namespace["__annotations__"][detail] = annotation | None
        namespace[detail] = strawberry.field(default=None, description=description)
    return strawberry.type(type(name, (), namespace), description=namespace["__doc__"])


def error_codes(code_enum: type[enum.Enum], domain: str) -> type[enum.Enum]:
    return strawberry.enum(code_enum, description=f"Why a {domain} mutation refused its input.")
