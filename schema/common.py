"""Pieces every domain's schema uses: Money, input conversion, payloads, nested lists."""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import strawberry
from strawberry.types import Info

from kernel.errors import FieldError
from kernel.money import round_money
from kernel.pagination import Ordering
from resolvers.lists import count, nested_count, nested_page, page, page_arguments
from resolvers.loaders import NestedList
from resolvers.ids import to_global_id
from schema.pagination import Connection, page_selected

T = TypeVar("T")


@strawberry.type(description="An exact amount of money in a currency. `amount` is a decimal string, never a float.")
class Money:
    amount: Decimal = strawberry.field(description="The amount, e.g. \"1234.50\".")
    currency: str = strawberry.field(description="ISO 4217 code, e.g. EUR.")

    @classmethod
    def of(cls, amount: Decimal | None, currency: str) -> Money | None:
        return None if amount is None else cls(amount=round_money(Decimal(amount)), currency=currency)


@strawberry.input(description="An amount and its currency.")
class MoneyInput:
    amount: Decimal = strawberry.field(description="Non-negative, at most two decimal places, as a string: \"1234.50\".")
    currency: str = strawberry.field(description="ISO 4217 code, e.g. EUR.")


def gid(type_name: str, pk: int | None) -> strawberry.ID | None:
    return None if pk is None else strawberry.ID(to_global_id(type_name, pk))


def given(input_object: Any, *, rename: dict[str, str] | None = None) -> dict[str, Any]:
    """The fields a client actually sent in an input (UNSET ones left out), enums as
    their values, snake_case keys (renamed where the domain calls a field otherwise)."""
    rename = rename or {}
    out: dict[str, Any] = {}
    for name, value in vars(input_object).items():
        if value is strawberry.UNSET:
            continue
        if isinstance(value, enum.Enum):
            value = value.value
        out[rename.get(name, name)] = value
    return out


def camel(path: str) -> str:
    """snake_case domain field paths as the client named them: lines.0.product_id -> lines.0.productId."""
    def one(part: str) -> str:
        head, *rest = part.split("_")
        return head + "".join(p.title() for p in rest)
    return ".".join(one(part) for part in path.split("."))


def payload_errors(errors: list[FieldError], error_type: Callable[..., T], code_enum: type[enum.Enum]) -> list[T]:
    """Domain FieldErrors as a payload's typed errors (with the details the type declares)."""
    declared = set(getattr(error_type, "__annotations__", {})) - {"field", "message", "code", "related_id"}
    return [
        error_type(
            field=camel(e.field) if e.field else None,
            message=e.message,
            code=code_enum(e.code),
            related_id=gid(*e.related) if e.related else None,
            **{k: v for k, v in (e.details or {}).items() if k in declared},
        )
        for e in errors
    ]


def nested(key: str, spec: Any, statement: Any, parent: Any, ordering: Ordering) -> NestedList:
    """A nested list identified by its relation and filter, so equal ones share a loader."""
    return NestedList((key, json.dumps(spec, sort_keys=True, default=str), ordering.name), statement, parent, ordering)


async def list_connection(info: Info, statement: Any, ordering: Ordering, to_node: Callable[[Any], T], *,
                          first: int | None, after: str | None, last: int | None, before: str | None,
                          prime: Any = None) -> Connection[T]:
    """A page of a top-level list: one statement for the page, one COUNT if totalCount is
    asked, no page if only totalCount is. `prime`: a by-id loader to seed with the rows."""
    context = info.context
    request = page_arguments(ordering, first=first, after=after, last=last, before=before)
    total = lambda: count(context, statement)  # noqa: E731
    if not page_selected(info):
        return Connection.count_only(total)
    rows = await page(context, statement, ordering, request)
    if prime is not None:
        loader = context.loader(prime)
        for row in rows.rows:
            loader.prime(row.id, row)
    return Connection.from_page(rows, to_node, total)


async def nested_connection(info: Info, relation: NestedList, parent_id: Any, to_node: Callable[[Any], T], *,
                            first: int | None, after: str | None, last: int | None, before: str | None) -> Connection[T]:
    """A page of a nested list; batched with the same list of every other parent."""
    context = info.context
    request = page_arguments(relation.ordering, first=first, after=after, last=last, before=before)
    count = lambda: nested_count(context, relation, parent_id)  # noqa: E731
    if not page_selected(info):
        return Connection.count_only(count)
    page = await nested_page(context, relation, request, parent_id)
    return Connection.from_page(page, to_node, count)
